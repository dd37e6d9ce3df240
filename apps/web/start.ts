/**
 * `npm start`: the whole of apisnoop on one machine — database, dashboard, and the proxy in front of the
 * current kubeconfig's cluster when it answers. Ctrl-C stops everything.
 */
import { readEnv } from "./src/env";
import { startBanner, startLocalStack } from "./src/start/local-stack";

const log = (line: string) => process.stderr.write(`apisnoop: ${line}\n`);

async function main(): Promise<void> {
  const env = readEnv();
  log("starting (database, dashboard, proxy)…");
  const stack = await startLocalStack({ env, workDir: process.cwd(), log });
  process.stdout.write(`${startBanner(stack)}\n`);
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping…`);
    await stack.close();
    log("stopped");
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: Error) => {
  log(error.message);
  process.exit(1);
});
