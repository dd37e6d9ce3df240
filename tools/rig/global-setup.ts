/**
 * vitest globalSetup of the `rig` project (`*.rig.test.ts`) and the `node` project (`*.node.test.ts`):
 * makes sure the kube rig is up before those files run — with a node for the `node` project (a rig that
 * runs without one is restarted with one when no other run uses it), API-only otherwise unless RIG_NODE=1
 * or a node rig is already up. At teardown it stops the rig only if a test run started it and no other run
 * still uses it; a rig started with `npm run rig:up` (as CI does) stays up.
 */
import type { TestProject } from "vitest/node";
import { releaseRig, startRig } from "./lifecycle";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const node = project.name === "node";
  const { started, state } = await startRig(
    "global-setup",
    (line) => console.log(line),
    node ? { node } : {},
  );
  if (started) console.log(`kube rig started for this test run at ${state.server}`);
  return async () => {
    if (await releaseRig()) console.log("kube rig stopped (started by this test run)");
  };
}
