/**
 * Real upstream conformance tests through the proxy: e2e.test (tools/e2e/build.sh) runs RIG_TEST_SUBSET
 * against the e2e rig (kube-apiserver + kube-controller-manager) with a kubeconfig pointing through the
 * apisnoop proxy. Every test must pass, and every difference between the endpoints the proxy attributed to
 * a test and apisnoop's published 1.34.0 list for it must be explained by a difference class.
 *
 * e2e.test takes over 20 minutes to build cold on 2 cores, so this file never builds it: without it the
 * suite is skipped (with a message), unless E2E_REQUIRED=1 (CI, after `npm run e2e:build`) makes that a
 * failure.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedApisnoopCoverage, sharedCatalog } from "@apisnoop/openapi/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConformanceRun, runConformanceThroughProxy } from "./conformance-run";
import { RIG_TEST_SUBSET } from "./conformance-tests";
import { e2eBinaryAvailable } from "./e2e-binary";
import { compareTests, summarizeComparison, type TestComparison } from "./endpoint-comparison";
import { e2eRequired } from "./env";
import { publishedEndpointsByTest, readHits } from "./test-endpoints";

const available = e2eBinaryAvailable();
if (!available && e2eRequired()) {
  throw new Error("E2E_REQUIRED=1 but e2e.test is not built: run `npm run e2e:build` first");
}
if (!available) console.warn("conformance.rig.test.ts skipped: e2e.test not built (`npm run e2e:build`)");

let run: ConformanceRun;
let comparisons: TestComparison[];
// Holds hits, logs and a kubeconfig with the rig's e2e token: removed after the run.
const outDir = mkdtempSync(join(tmpdir(), "apisnoop-e2e-"));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

beforeAll(async () => {
  if (!available) return;
  const catalog = sharedCatalog("1.34");
  run = await runConformanceThroughProxy({
    tests: RIG_TEST_SUBSET,
    catalog,
    outDir,
    log: () => {},
  });
  const published = publishedEndpointsByTest(sharedApisnoopCoverage("1.34").endpoints);
  comparisons = compareTests(run.specs, run.observed.byTest, published, {
    succeeded: run.observed.succeededByTest,
  });
}, 600_000);

describe.skipIf(!available)("upstream conformance tests through the proxy", () => {
  it("runs and passes every selected test", () => {
    const states = Object.fromEntries(run.specs.map((s) => [s.name, s.state]));
    expect(Object.keys(states).sort()).toEqual([...RIG_TEST_SUBSET].sort());
    expect(run.specs.filter((s) => s.state !== "passed").map((s) => `${s.name}: ${s.failure}`)).toEqual([]);
    expect(run.exitCode).toBe(0);
  });

  it("counts every hit under the run's id, so runs can be compared", () => {
    expect(run.run).toMatch(/^e2e-\d{8}T\d{6}Z$/);
    const runs = new Set(readHits(run.hitsPath).map((hit) => hit.source?.run));
    expect([...runs]).toEqual([run.run]);
  });

  it("attributes each test's requests to it by the e2e user agent", () => {
    for (const name of RIG_TEST_SUBSET) {
      expect(run.observed.byTest.get(name)?.size ?? 0, name).toBeGreaterThan(0);
    }
  });

  it("reproduces apisnoop's per-test endpoint sets up to explained differences", () => {
    const unexplained = comparisons.flatMap((c) => [
      ...c.extras.filter((d) => d.explanation === null).map((d) => `${c.test}: + ${d.endpoint}`),
      ...c.misses.filter((d) => d.explanation === null).map((d) => `${c.test}: - ${d.endpoint}`),
    ]);
    expect(unexplained).toEqual([]);
    const summary = summarizeComparison(comparisons);
    expect(summary.matches).toBeGreaterThan(summary.extras + summary.misses);
  });
});
