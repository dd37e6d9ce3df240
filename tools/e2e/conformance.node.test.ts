/**
 * Upstream conformance tests that run pods, through the proxy: e2e.test runs NODE_TEST_SUBSET in two
 * parallel processes against the e2e rig with its node (kubelet, containerd, kube-proxy, CoreDNS) and the
 * e2e test images built on this machine, with a kubeconfig pointing through the apisnoop proxy. Every test
 * must pass, and each test's endpoint set must agree with apisnoop's published 1.34.0 list for it far
 * more than it differs (differences are printed; the full run's report classifies them). The whole
 * selection runs with `npm run e2e:conformance`.
 *
 * Like conformance.rig.test.ts, this file never builds e2e.test: without it the suite is skipped, unless
 * E2E_REQUIRED=1 (CI, after `npm run e2e:build`) makes that a failure.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedApisnoopCoverage, sharedCatalog } from "@apisnoop/openapi/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConformanceRun, runConformanceThroughProxy } from "./conformance-run";
import { NODE_TEST_SUBSET } from "./conformance-tests";
import { e2eBinaryAvailable } from "./e2e-binary";
import { compareTests, summarizeComparison, type TestComparison } from "./endpoint-comparison";
import { e2eRequired } from "./env";
import { publishedEndpointsByTest } from "./test-endpoints";

const available = e2eBinaryAvailable();
if (!available && e2eRequired()) {
  throw new Error("E2E_REQUIRED=1 but e2e.test is not built: run `npm run e2e:build` first");
}
if (!available) console.warn("conformance.node.test.ts skipped: e2e.test not built (`npm run e2e:build`)");

let run: ConformanceRun;
let comparisons: TestComparison[];
// Holds hits, logs and a kubeconfig with the rig's e2e token: removed after the run.
const outDir = mkdtempSync(join(tmpdir(), "apisnoop-e2e-node-"));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

beforeAll(async () => {
  if (!available) return;
  run = await runConformanceThroughProxy({
    tests: NODE_TEST_SUBSET,
    catalog: sharedCatalog("1.34"),
    outDir,
    node: true,
    procs: 2,
    log: () => {},
  });
  const published = publishedEndpointsByTest(sharedApisnoopCoverage("1.34").endpoints);
  comparisons = compareTests(run.specs, run.observed.byTest, published, {
    succeeded: run.observed.succeededByTest,
  });
}, 1_500_000);

describe.skipIf(!available)("upstream conformance tests with pods, through the proxy", () => {
  it("runs and passes every selected test", () => {
    const states = Object.fromEntries(run.specs.map((s) => [s.name, s.state]));
    expect(Object.keys(states).sort()).toEqual([...NODE_TEST_SUBSET].sort());
    expect(run.specs.filter((s) => s.state !== "passed").map((s) => `${s.name}: ${s.failure}`)).toEqual([]);
    expect(run.exitCode).toBe(0);
  });

  it("attributes each test's requests to it, pod operations included", () => {
    for (const name of NODE_TEST_SUBSET) {
      expect(run.observed.byTest.get(name)?.size ?? 0, name).toBeGreaterThan(0);
    }
    // Pods really ran: the framework read their status and logs through the proxy.
    const all = new Set([...run.observed.byTest.values()].flatMap((set) => [...set]));
    expect(all).toContain("createCoreV1NamespacedPod");
    expect(all).toContain("readCoreV1NamespacedPodLog");
  });

  it("reproduces apisnoop's per-test endpoint sets, differences reported", () => {
    const unexplained = comparisons.flatMap((c) => [
      ...c.extras.filter((d) => d.explanation === null).map((d) => `${c.test}: + ${d.endpoint}`),
      ...c.misses.filter((d) => d.explanation === null).map((d) => `${c.test}: - ${d.endpoint}`),
    ]);
    // The full run's report has every difference explained (README, "Measured with pods"). Some classes
    // rest on timing (a wait that polls a pod only while it is not Running yet), so a difference this small
    // subset may show on a slower or faster machine is printed here, not failed on; each test must still
    // agree with apisnoop far more than it differs.
    if (unexplained.length > 0) console.log(`unexplained differences:\n${unexplained.join("\n")}`);
    for (const c of comparisons) {
      expect(c.published, c.test).toBe(true);
      expect(c.matches.length, c.test).toBeGreaterThan(2 * (c.extras.length + c.misses.length));
    }
    const summary = summarizeComparison(comparisons);
    expect(summary.matches).toBeGreaterThan(4 * (summary.extras + summary.misses));
  });
});
