import { readFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { SHARED_K8S, SHARED_RELEASES, sharedCatalog } from "@apisnoop/openapi/testing";
import { describe, expect, it } from "vitest";
import { parseApisnoopCoverage } from "./apisnoop-coverage";
import { isConformanceEligible, parseIneligible } from "./eligibility";
import { diffReleases, versionlessShape } from "./release-diff";

const ineligible = parseIneligible(
  JSON.parse(readFileSync(path.join(SHARED_K8S, "apisnoop", "ineligible_endpoints.json"), "utf8")),
);
const coverage = (release: string) =>
  parseApisnoopCoverage(
    JSON.parse(
      gunzipSync(readFileSync(path.join(SHARED_K8S, "apisnoop", `${release}.0.json.gz`))).toString(),
    ),
  );

describe("diffReleases", () => {
  it("1.33 → 1.34 equals the endpoint-set difference of the two specs", () => {
    const from = sharedCatalog("1.33");
    const to = sharedCatalog("1.34");
    const diff = diffReleases(from, to);
    const before = new Set(from.endpoints.map((e) => e.operationId));
    const after = new Set(to.endpoints.map((e) => e.operationId));
    expect(new Set(diff.added.map((e) => e.operationId))).toEqual(
      new Set([...after].filter((id) => !before.has(id))),
    );
    expect(new Set(diff.removed.map((e) => e.operationId))).toEqual(
      new Set([...before].filter((id) => !after.has(id))),
    );
    expect(diff.added).toHaveLength(66);
    expect(to.endpoints.length - from.endpoints.length).toBe(diff.added.length - diff.removed.length);
  });

  it("lists promotions: the same operation of a kind at a higher level", () => {
    const diff = diffReleases(sharedCatalog("1.33"), sharedCatalog("1.34"));
    const pairs = diff.promoted.map((p) => `${p.from.operationId} -> ${p.to.operationId}`);
    expect(pairs).toContain(
      "createAdmissionregistrationV1alpha1MutatingAdmissionPolicy -> createAdmissionregistrationV1beta1MutatingAdmissionPolicy",
    );
    for (const { from, to } of diff.promoted) {
      expect(versionlessShape(from)).toBe(versionlessShape(to));
      expect(["alpha>beta", "alpha>stable", "beta>stable"]).toContain(`${from.level}>${to.level}`);
    }
    const stable = diffReleases(sharedCatalog("1.35"), sharedCatalog("1.36")).promoted.filter(
      (p) => p.to.level === "stable",
    );
    expect(stable.map((p) => p.to.operationId)).toContain(
      "createAdmissionregistrationV1MutatingAdmissionPolicy",
    );
  });
});

describe("apisnoop's published coverage", () => {
  it.each(SHARED_RELEASES)("%s: totals agree with the endpoint list and our catalog", (release) => {
    const published = coverage(release);
    expect(published.release).toBe(release);
    expect(published.totalEndpoints).toBe(sharedCatalog(release).endpoints.length);
    expect(published.testedEndpoints).toBe([...published.endpoints.values()].filter((e) => e.tested).length);
  });

  it("reproduces the eligible figures of 1.35 and 1.36 from the current ineligible list", () => {
    for (const [release, eligible] of [
      ["1.35", 549],
      ["1.36", 563],
    ] as const) {
      const published = coverage(release);
      const ours = sharedCatalog(release).endpoints.filter((e) => isConformanceEligible(e, ineligible));
      expect(ours).toHaveLength(eligible);
      expect(published.eligibleTotal).toBe(eligible);
      expect(ours.filter((e) => published.endpoints.get(e.operationId)?.confTested)).toHaveLength(
        published.eligibleTested as number,
      );
    }
    expect(coverage("1.36").testedEndpoints).toBe(591);
  });

  it("rejects what is not apisnoop coverage", () => {
    expect(() => parseApisnoopCoverage({ endpoints: "no" })).toThrow("not apisnoop coverage JSON");
    expect(() => parseIneligible({})).toThrow("ineligible endpoints: expected a JSON array");
  });
});

describe("upstreamE2eBatch", () => {
  it("turns apisnoop's 1.36 coverage into one valid batch whose endpoints are exactly the tested ones", async () => {
    const { decodeIngestBatch } = await import("@apisnoop/protocol");
    const { upstreamE2eBatch } = await import("./upstream-batch");
    const published = coverage("1.36");
    const batch = upstreamE2eBatch(published, sharedCatalog("1.36"), Date.UTC(2026, 3, 22));
    expect(decodeIngestBatch(JSON.parse(JSON.stringify(batch)))).toMatchObject({ ok: true });
    expect(new Set(batch.hits.map((h) => h.operationId)).size).toBe(591);
    expect(batch.sources.every((s) => s.name === "upstream-e2e")).toBe(true);
    const conformanceOnly = new Set(
      batch.hits.filter((h) => batch.sources[h.source]?.conformance).map((h) => h.operationId),
    );
    expect(conformanceOnly.size).toBe([...published.endpoints.values()].filter((e) => e.confTested).length);
    expect(upstreamE2eBatch(published, sharedCatalog("1.36"), Date.UTC(2026, 3, 22)).batchId).toBe(
      batch.batchId,
    );
  });
});
