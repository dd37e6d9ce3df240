/**
 * `npm start`: the whole of apisnoop on one machine — database, dashboard, and the proxy in front of the
 * current kubeconfig's cluster when it answers. Ctrl-C stops everything.
 */
const log = (line: string) => process.stderr.write(`apisnoop: ${line}\n`);

// Said before the stack's modules load: on a busy machine that alone takes several seconds.
log("starting (database, dashboard, proxy)…");

async function main(): Promise<void> {
  const { readEnv } = await import("./src/env");
  const { startBanner, startLocalStack } = await import("./src/start/local-stack");
  const env = readEnv();
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
