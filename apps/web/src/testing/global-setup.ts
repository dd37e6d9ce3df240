import { ensureNextBuild } from "../server/next-build";

/** The stack tests serve the production build: make it once per change of the app's sources. */
export default async function setup(): Promise<void> {
  await ensureNextBuild((line) => process.stderr.write(`apisnoop web: ${line}\n`));
}
