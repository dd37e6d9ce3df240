/**
 * Bounded under a flood: `apisnoop proxy` (its own process, in front of the rig) holds 700 idle keep-alive
 * TLS connections while 2,000 TLS handshakes name 2,000 different servers; its resident memory grows by
 * less than 100 MiB, it holds one leaf certificate throughout (no certificate per name), and real kubectl
 * keeps getting through. kubectl's latency ratio (during / before) is printed, not asserted: this machine's
 * speed varies with load; `npm run bench:flood` prints the same figures.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeFlood, flood } from "../../../tools/hostile/flood";
import { type ProxyProcess, startRigProxyProcess } from "../../../tools/hostile/proxy-process";

let proxy: ProxyProcess;
let kubeconfig: string;

beforeAll(async () => {
  const started = await startRigProxyProcess();
  proxy = started.proxy;
  kubeconfig = started.kubeconfigs.reverse;
}, 180_000);

afterAll(async () => {
  await proxy?.stop("SIGKILL");
});

describe("a connection and handshake flood", () => {
  it("leaves memory within +100 MiB, one leaf certificate, and kubectl served", async () => {
    const figures = await flood(proxy, kubeconfig);
    console.log(`flood:\n${describeFlood(figures)}`);
    expect(proxy.alive).toBe(true);
    expect(figures.idleHeld).toBe(700);
    expect(figures.handshakesDone).toBe(2000);
    expect(figures.connectionsOpen).toBeGreaterThanOrEqual(700);
    expect(figures.rssAfterMiB - figures.rssBeforeMiB).toBeLessThan(100);
    expect(figures.leafCertificates).toBe(1);
    expect(figures.unknownServerNames).toBeGreaterThanOrEqual(2000);
    expect(figures.kubectlDuringMs.length).toBeGreaterThanOrEqual(7);
    expect(figures.kubectlFailedBefore + figures.kubectlFailedDuring).toBe(0);
  }, 600_000);
});
