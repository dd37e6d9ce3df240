import { readFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { SHARED_K8S, sharedCatalog } from "@apisnoop/openapi/testing";
import { describe, expect, it } from "vitest";
import { parseApisnoopCoverage } from "./apisnoop-coverage";
import { countCoverage } from "./coverage-counts";
import { type CoveredEndpoint, coveragePercent, diffCoverage } from "./coverage-diff";
import { isConformanceEligible, parseIneligible } from "./eligibility";

const ineligible = parseIneligible(
  JSON.parse(readFileSync(path.join(SHARED_K8S, "apisnoop", "ineligible_endpoints.json"), "utf8")),
);

/** Upstream e2e's coverage of a shared release, as a coverage side. */
function upstreamSide(release: string) {
  const published = parseApisnoopCoverage(
    JSON.parse(
      gunzipSync(readFileSync(path.join(SHARED_K8S, "apisnoop", `${release}.0.json.gz`))).toString(),
    ),
  );
  const endpoints = sharedCatalog(release).endpoints.map(
    (e): CoveredEndpoint => ({
      operationId: e.operationId,
      level: e.level,
      conformanceEligible: isConformanceEligible(e, ineligible),
      tested: published.endpoints.get(e.operationId)?.tested ?? false,
      hits: published.endpoints.get(e.operationId)?.tests.length ?? 0,
    }),
  );
  return { label: release, endpoints, published };
}

const endpoint = (operationId: string, tested: boolean, level: CoveredEndpoint["level"] = "stable") => ({
  operationId,
  level,
  conformanceEligible: level === "stable",
  tested,
  hits: tested ? 2 : 0,
});

describe("diffCoverage", () => {
  it("sorts each endpoint by how its coverage changed", () => {
    const diff = diffCoverage(
      {
        label: "a",
        endpoints: [
          endpoint("kept", true),
          endpoint("lost", true),
          endpoint("gained", false),
          endpoint("gone", true, "beta"),
          endpoint("goneUntested", false),
        ],
      },
      {
        label: "b",
        endpoints: [
          endpoint("kept", true),
          endpoint("lost", false),
          endpoint("gained", true),
          endpoint("new", true, "beta"),
          endpoint("newUntested", false),
        ],
      },
    );
    const ids = (list: CoveredEndpoint[]) => list.map((e) => e.operationId);
    expect(ids(diff.newlyTested)).toEqual(["gained"]);
    expect(ids(diff.noLongerTested)).toEqual(["lost"]);
    expect(ids(diff.testedAdded)).toEqual(["new"]);
    expect(ids(diff.testedRemoved)).toEqual(["gone"]);
    expect(diff.counts.from.all).toEqual({ endpoints: 5, tested: 3, hits: 6 });
    expect(diff.counts.to.byLevel.beta).toEqual({ endpoints: 1, tested: 1, hits: 2 });
    expect(diff.counts.to.conformanceEligible).toEqual({ endpoints: 4, tested: 2, hits: 4 });
  });

  it("upstream e2e 1.33 → 1.34: the counts are apisnoop's, and the lists account for the change", () => {
    const from = upstreamSide("1.33");
    const to = upstreamSide("1.34");
    const diff = diffCoverage(from, to);
    expect(diff.counts.from.all).toMatchObject({
      endpoints: from.published.totalEndpoints,
      tested: from.published.testedEndpoints,
    });
    expect(diff.counts.to.all.tested).toBe(to.published.testedEndpoints);
    // Tested after = tested before − lost − removed + gained + added.
    expect(diff.counts.to.all.tested).toBe(
      diff.counts.from.all.tested -
        diff.noLongerTested.length -
        diff.testedRemoved.length +
        diff.newlyTested.length +
        diff.testedAdded.length,
    );
    const before = new Set(from.endpoints.map((e) => e.operationId));
    expect(diff.testedAdded.every((e) => !before.has(e.operationId) && e.tested)).toBe(true);
  });

  it("two windows of one release have no added or removed endpoints", () => {
    const side = upstreamSide("1.34");
    const untested = { label: "earlier", endpoints: side.endpoints.map((e) => ({ ...e, tested: false })) };
    const diff = diffCoverage(untested, side);
    expect(diff.testedAdded).toEqual([]);
    expect(diff.testedRemoved).toEqual([]);
    expect(diff.newlyTested).toHaveLength(side.published.testedEndpoints);
  });
});

describe("countCoverage and coveragePercent", () => {
  it("count levels separately and round to one decimal", () => {
    const counts = countCoverage([endpoint("a", true), endpoint("b", false), endpoint("c", false, "alpha")]);
    expect(counts.byLevel.stable).toEqual({ endpoints: 2, tested: 1, hits: 2 });
    expect(coveragePercent(counts.all)).toBe("33.3");
    expect(coveragePercent(counts.byLevel.beta)).toBe("0.0");
  });
});
