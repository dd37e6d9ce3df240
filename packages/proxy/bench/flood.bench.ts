/**
 * `npm run bench:flood`: the proxy's resident memory and kubectl's latency through it, before and during
 * a flood of 700 idle keep-alive TLS connections and 2,000 TLS handshakes with distinct SNI names, in one
 * run against the rig (started if it is down, released after). The proxy is `apisnoop proxy` in its own
 * process; the flood and kubectl share this machine's cores with it, so the ratio is for this run only.
 *
 * Environment: FLOOD_IDLE (default 700), FLOOD_HANDSHAKES (default 2000), FLOOD_KUBECTL_RUNS (default 7);
 * FLOOD_HANDSHAKES_PER_ADDRESS (the proxy's `--handshakes-per-address`; default the proxy's own);
 * FLOOD_HANDSHAKE_RATE (the proxy's `--handshake-rate-per-address`; default the proxy's own, 0: off);
 * FLOOD_CPU_PROF=DIR profiles the proxy (`node --cpu-prof`) and prints where its CPU time went.
 */
import { mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { describeCpuProfile } from "../../../tools/hostile/cpu-profile";
import { DEFAULT_FLOOD, describeFlood, flood, median } from "../../../tools/hostile/flood";
import { type ProxyProcess, startRigProxyProcess } from "../../../tools/hostile/proxy-process";
import { releaseRig, startRig } from "../../../tools/rig/lifecycle";
import { rigKubeconfigPath } from "../../../tools/rig/rig";

const profileDir = process.env.FLOOD_CPU_PROF ? path.resolve(process.env.FLOOD_CPU_PROF) : null;
if (profileDir) mkdirSync(profileDir, { recursive: true });

await startRig("global-setup", () => {});
let proxy: ProxyProcess | null = null;
try {
  const started = await startRigProxyProcess({
    args: [
      ...(process.env.FLOOD_HANDSHAKES_PER_ADDRESS
        ? [`--handshakes-per-address=${process.env.FLOOD_HANDSHAKES_PER_ADDRESS}`]
        : []),
      ...(process.env.FLOOD_HANDSHAKE_RATE
        ? [`--handshake-rate-per-address=${process.env.FLOOD_HANDSHAKE_RATE}`]
        : []),
    ],
    nodeArgs: profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
  });
  proxy = started.proxy;
  const figures = await flood(
    proxy,
    started.kubeconfigs.reverse,
    {
      idleConnections: Number(process.env.FLOOD_IDLE ?? DEFAULT_FLOOD.idleConnections),
      handshakes: Number(process.env.FLOOD_HANDSHAKES ?? DEFAULT_FLOOD.handshakes),
      kubectlRuns: Number(process.env.FLOOD_KUBECTL_RUNS ?? DEFAULT_FLOOD.kubectlRuns),
    },
    rigKubeconfigPath("admin"),
  );
  console.log(describeFlood(figures));
  console.log(
    `targets: RSS growth <= 100 MiB: ${figures.rssAfterMiB - figures.rssBeforeMiB <= 100 ? "met" : "NOT met"}; kubectl during / before <= 2: ${median(figures.kubectlDuringMs) / median(figures.kubectlBeforeMs) <= 2 ? "met" : "NOT met"}`,
  );
  if (profileDir) {
    // The profile is written when the process exits: a drain, not a kill.
    const pid = proxy.child.pid;
    await proxy.stop("SIGTERM");
    const file = readdirSync(profileDir).find(
      (name) => name.includes(`.${pid}.`) && name.endsWith(".cpuprofile"),
    );
    if (file)
      console.log(
        `proxy CPU profile ${path.join(profileDir, file)}:\n${describeCpuProfile(path.join(profileDir, file))}`,
      );
    else console.log(`no CPU profile of pid ${pid} in ${profileDir}`);
  }
} finally {
  await proxy?.stop("SIGKILL");
  await releaseRig();
}
