/**
 * vitest globalSetup: makes sure the kube rig is up before any test file runs, and stops it at teardown
 * only when this run started it (a rig started by `npm run rig:up` or CI stays up).
 * Set RIG_SKIP=1 to run unit tests without a rig; tests that need it then fail with readRigState's message.
 */
import { startRig, stopRig } from "./lifecycle";

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.RIG_SKIP === "1") return undefined;
  const { started, state } = await startRig((line) => console.log(line));
  if (!started) return undefined;
  console.log(`kube rig started for this test run at ${state.server}`);
  return async () => {
    await stopRig();
  };
}
