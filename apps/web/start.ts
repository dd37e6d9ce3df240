/**
 * `npm start`: the whole of apisnoop on one machine — database, dashboard, and the proxy in front of the
 * current kubeconfig's cluster when it answers. Ctrl-C stops everything.
 */
const log = (line: string) => process.stderr.write(`apisnoop: ${line}\n`);

// Said before the stack's modules load: on a busy machine that alone takes several seconds.
log("starting (database, dashboard, proxy)…");

async function main(): Promise<void> {
  const { endOnSignals } = await import("./src/server/signals");
  // From the first moment: a Ctrl-C while starting must still stop the database (see endOnSignals).
  const ending = endOnSignals(log);
  const { readEnv } = await import("./src/env");
  const { startBanner, startLocalStack } = await import("./src/start/local-stack");
  const env = readEnv();
  const stack = await startLocalStack({ env, workDir: process.cwd(), log });
  process.stdout.write(`${startBanner(stack)}\n`);
  ending.started(async (signal) => {
    log(`${signal}: stopping…`);
    await stack.close();
    log("stopped");
  });
}

main().catch((error: Error) => {
  log(error.message);
  process.exit(1);
});
