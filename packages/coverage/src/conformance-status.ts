import type { Level } from "@apisnoop/openapi";
import type { ApisnoopCoverage } from "./apisnoop-coverage";
import type { IneligibleEndpoint } from "./eligibility";

/** What the conformance view reads of an endpoint of a release, with the upstream e2e hits it got. */
export interface ConformanceEndpoint {
  operationId: string;
  level: Level;
  deprecated: boolean;
  /** Stable, not deprecated, not in the ineligible list the release was stored with (GUIDE §3). */
  conformanceEligible: boolean;
  /** The reason it is listed in `ineligible_endpoints.json`, as stored; null when not listed. */
  ineligibleReason: string | null;
  /** Hit by any upstream e2e test. */
  tested: boolean;
  /** Hit by a conformance test. */
  conformanceTested: boolean;
}

/** A stable endpoint listed in `ineligible_endpoints.json`, with why. */
export interface IneligibleStable<E extends ConformanceEndpoint = ConformanceEndpoint> {
  endpoint: E;
  reason: string;
  /** The issue or comment the list links to, when known. */
  link: string | null;
}

/** A release's stable endpoints as apisnoop's conformance-progress page splits them. */
export interface ConformanceStatus<E extends ConformanceEndpoint = ConformanceEndpoint> {
  release: string;
  /** All endpoints of the release (apisnoop's `total endpoints`). */
  totalEndpoints: number;
  /** Endpoints hit by any upstream e2e test (apisnoop's `tested endpoints`). */
  testedEndpoints: number;
  stable: number;
  eligible: E[];
  /** Eligible and hit by a conformance test (apisnoop's `tested conformance eligible endpoints`). */
  eligibleTested: E[];
  /** Eligible and not hit by any conformance test: the tests worth writing. */
  eligibleUntested: E[];
  /** Stable, not eligible because listed in `ineligible_endpoints.json`. */
  ineligible: IneligibleStable<E>[];
  /** Stable, not eligible because deprecated (and not listed). */
  deprecated: E[];
  /** apisnoop's own figures for the release, when its coverage file was read. */
  published: {
    totalEndpoints: number;
    testedEndpoints: number;
    eligible: number | null;
    eligibleTested: number | null;
  } | null;
}

/**
 * Splits a release's endpoints for the conformance view: eligible (conformance-tested or not), ineligible
 * with reasons, deprecated. `ineligible` adds the list's links; `published` adds apisnoop's figures, which
 * for releases before 1.35 count a few more eligible endpoints because apisnoop used the ineligible list
 * of that time, while only the current list is published.
 */
export function conformanceStatus<E extends ConformanceEndpoint>(
  release: string,
  endpoints: readonly E[],
  options: {
    ineligible?: ReadonlyMap<string, IneligibleEndpoint>;
    published?: ApisnoopCoverage | null;
  } = {},
): ConformanceStatus<E> {
  const stable = endpoints.filter((e) => e.level === "stable");
  const eligible = stable.filter((e) => e.conformanceEligible);
  const listed = stable.filter((e) => !e.conformanceEligible && e.ineligibleReason !== null);
  const published = options.published ?? null;
  return {
    release,
    totalEndpoints: endpoints.length,
    testedEndpoints: endpoints.filter((e) => e.tested).length,
    stable: stable.length,
    eligible,
    eligibleTested: eligible.filter((e) => e.conformanceTested),
    eligibleUntested: eligible.filter((e) => !e.conformanceTested),
    ineligible: listed.map((endpoint) => ({
      endpoint,
      reason: endpoint.ineligibleReason ?? "",
      link: options.ineligible?.get(endpoint.operationId)?.link || null,
    })),
    deprecated: stable.filter((e) => !e.conformanceEligible && e.ineligibleReason === null && e.deprecated),
    published: published && {
      totalEndpoints: published.totalEndpoints,
      testedEndpoints: published.testedEndpoints,
      eligible: published.eligibleTotal,
      eligibleTested: published.eligibleTested,
    },
  };
}
