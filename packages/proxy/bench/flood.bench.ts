/**
 * `npm run bench:flood`: the proxy's resident memory and kubectl's latency through it, before and during
 * a flood of 700 idle keep-alive TLS connections and 2,000 TLS handshakes with distinct SNI names, in one
 * run against the rig (started if it is down, released after). The proxy is `apisnoop proxy` in its own
 * process; the flood and kubectl share this machine's cores with it, so the ratio is for this run only.
 *
 * Environment: FLOOD_IDLE (default 700), FLOOD_HANDSHAKES (default 2000), FLOOD_KUBECTL_RUNS (default 7).
 */
import { DEFAULT_FLOOD, describeFlood, flood } from "../../../tools/hostile/flood";
import { type ProxyProcess, startRigProxyProcess } from "../../../tools/hostile/proxy-process";
import { releaseRig, startRig } from "../../../tools/rig/lifecycle";

await startRig("global-setup", () => {});
let proxy: ProxyProcess | null = null;
try {
  const started = await startRigProxyProcess();
  proxy = started.proxy;
  const figures = await flood(proxy, started.kubeconfigs.reverse, {
    idleConnections: Number(process.env.FLOOD_IDLE ?? DEFAULT_FLOOD.idleConnections),
    handshakes: Number(process.env.FLOOD_HANDSHAKES ?? DEFAULT_FLOOD.handshakes),
    kubectlRuns: Number(process.env.FLOOD_KUBECTL_RUNS ?? DEFAULT_FLOOD.kubectlRuns),
  });
  console.log(describeFlood(figures));
  console.log(
    `targets: RSS growth <= 100 MiB: ${figures.rssAfterMiB - figures.rssBeforeMiB <= 100 ? "met" : "NOT met"}; kubectl during / before <= 2: see the ratio above`,
  );
} finally {
  await proxy?.stop("SIGKILL");
  await releaseRig();
}
