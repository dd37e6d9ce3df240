/**
 * vitest globalSetup of the `rig` project (`*.rig.test.ts`): makes sure the kube rig is up before those
 * files run. At teardown it stops the rig only if a test run started it and no other run still uses it;
 * a rig started with `npm run rig:up` (as CI does) stays up.
 */
import { releaseRig, startRig } from "./lifecycle";

export default async function setup(): Promise<() => Promise<void>> {
  const { started, state } = await startRig("global-setup", (line) => console.log(line));
  if (started) console.log(`kube rig started for this test run at ${state.server}`);
  return async () => {
    if (await releaseRig()) console.log("kube rig stopped (started by this test run)");
  };
}
