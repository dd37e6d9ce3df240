/**
 * `npm run demo`: `npm start` against the real-cluster rig (tools/rig: a local etcd + kube-apiserver),
 * with a scripted kubectl + client-node workload through the proxy, so the dashboard fills live within
 * a minute. Ctrl-C stops the workload, the stack, and the rig if this run started it.
 */
import { releaseRig, startRig } from "../../tools/rig/lifecycle";
import { readEnv } from "./src/env";
import { startDemoWorkload } from "./src/start/demo-workload";
import { startBanner, startLocalStack } from "./src/start/local-stack";

const log = (line: string) => process.stderr.write(`apisnoop: ${line}\n`);

async function main(): Promise<void> {
  const env = readEnv();
  log("starting the kube rig (a local kube-apiserver; the first run builds it, which takes a while)…");
  // As a test run does: shared with concurrent users, stopped at the end only if this run started it.
  const { state } = await startRig("global-setup", (line) => log(`rig: ${line}`));
  const stack = await startLocalStack({
    env: { ...env, KUBECONFIG: state.kubeconfigs.admin },
    workDir: process.cwd(),
    log,
  });
  process.stdout.write(`${startBanner(stack)}\n`);
  if (!stack.kubeconfigPath) {
    await stack.close();
    throw new Error(`the proxy did not start: ${stack.proxyProblem}`);
  }
  const workload = startDemoWorkload({ kubeconfig: stack.kubeconfigPath, log });
  log(`demo workload running through the proxy; open ${stack.web.url}`);
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping…`);
    await workload.stop();
    await stack.close();
    if (await releaseRig()) log("kube rig stopped");
    log("stopped");
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch(async (error: Error) => {
  log(error.message);
  await releaseRig().catch(() => false);
  process.exit(1);
});
