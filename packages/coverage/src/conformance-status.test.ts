import { readFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { SHARED_K8S, SHARED_RELEASES, sharedCatalog } from "@apisnoop/openapi/testing";
import { describe, expect, it } from "vitest";
import { parseApisnoopCoverage } from "./apisnoop-coverage";
import { type ConformanceEndpoint, conformanceStatus } from "./conformance-status";
import { isConformanceEligible, parseIneligible } from "./eligibility";

const ineligible = parseIneligible(
  JSON.parse(readFileSync(path.join(SHARED_K8S, "apisnoop", "ineligible_endpoints.json"), "utf8")),
);

/** A shared release as the database holds it after `apisnoop import apisnoop`, and its status. */
function status(release: string) {
  const published = parseApisnoopCoverage(
    JSON.parse(
      gunzipSync(readFileSync(path.join(SHARED_K8S, "apisnoop", `${release}.0.json.gz`))).toString(),
    ),
  );
  const endpoints = sharedCatalog(release).endpoints.map(
    (e): ConformanceEndpoint => ({
      operationId: e.operationId,
      level: e.level,
      deprecated: e.deprecated,
      conformanceEligible: isConformanceEligible(e, ineligible),
      ineligibleReason: ineligible.get(e.operationId)?.reason ?? null,
      tested: published.endpoints.get(e.operationId)?.tested ?? false,
      conformanceTested: published.endpoints.get(e.operationId)?.confTested ?? false,
    }),
  );
  return conformanceStatus(release, endpoints, { ineligible, published });
}

describe("conformanceStatus", () => {
  it.each(SHARED_RELEASES)("%s: total and tested endpoints equal apisnoop's", (release) => {
    const s = status(release);
    expect(s.published).not.toBeNull();
    expect(s.totalEndpoints).toBe(s.published?.totalEndpoints);
    expect(s.testedEndpoints).toBe(s.published?.testedEndpoints);
    expect(s.eligibleTested.length + s.eligibleUntested.length).toBe(s.eligible.length);
    expect(s.eligible.length + s.ineligible.length + s.deprecated.length).toBe(s.stable);
  });

  it("1.35 and 1.36: eligible and conformance-tested equal apisnoop's", () => {
    for (const release of ["1.35", "1.36"]) {
      const s = status(release);
      expect(s.eligible.length).toBe(s.published?.eligible);
      expect(s.eligibleTested.length).toBe(s.published?.eligibleTested);
    }
  });

  it("before 1.35: fewer eligible than apisnoop published, by the endpoints listed since (README)", () => {
    const ours = SHARED_RELEASES.slice(0, 7).map((release) => status(release).eligible.length);
    const published = SHARED_RELEASES.slice(0, 7).map((release) => status(release).published?.eligible);
    expect(ours).toEqual([457, 478, 495, 495, 498, 508, 549]);
    expect(published).toEqual([461, 482, 497, 497, 500, 510, 551]);
  });

  it("before 1.35: apisnoop's eligible-tested summary is more than its own per-endpoint conf_tested flags give", () => {
    const releases = SHARED_RELEASES.slice(0, 7);
    const ours = releases.map((release) => status(release).eligibleTested.length);
    const summary = releases.map((release) => status(release).published?.eligibleTested);
    expect(ours).toEqual([411, 422, 482, 482, 452, 452, 462]);
    expect(summary).toEqual([413, 460, 484, 484, 497, 504, 505]);
    // Not only the list: even every stable, non-deprecated endpoint flagged conf_tested falls short.
    for (const release of ["1.29", "1.32", "1.33", "1.34"]) {
      const s = status(release);
      const flagged = [...s.eligible, ...s.ineligible.map((entry) => entry.endpoint)].filter(
        (e) => e.conformanceTested && !e.deprecated,
      ).length;
      expect(flagged).toBeLessThan(s.published?.eligibleTested as number);
    }
  });

  it("gives each ineligible stable endpoint its reason and link", () => {
    const s = status("1.34");
    expect(s.ineligible.length).toBeGreaterThan(0);
    for (const entry of s.ineligible) {
      expect(entry.reason).toBe(ineligible.get(entry.endpoint.operationId)?.reason);
      expect(entry.link).toMatch(/^https:\/\//);
      expect(entry.endpoint.level).toBe("stable");
    }
  });
});
