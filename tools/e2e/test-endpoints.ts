/**
 * Per-test endpoint sets, both sides of the comparison: what the proxy attributed to each e2e test, and what
 * apisnoop's published coverage lists for it. Only stable endpoints of the release count on either side.
 */
import { readFileSync } from "node:fs";
import { compileMatcher, type EndpointCatalog } from "@apisnoop/openapi";
import type { ApisnoopEndpoint } from "@apisnoop/openapi/testing";
import { type HitLine, HitLineSchema, sourceFromUserAgent } from "@apisnoop/protocol";

/** Test name -> operationIds. */
export type EndpointsByTest = Map<string, Set<string>>;

/** What the proxy saw, per test, plus what stayed outside the comparison and why. */
export interface ObservedEndpoints {
  byTest: EndpointsByTest;
  /** Hits with no e2e test in the user agent (suite setup, the proxy's own spec loads). */
  unattributedHits: number;
  /** Per test, matched operations that are not stable endpoints of the release (alpha/beta, custom resources). */
  nonStableByTest: Map<string, Set<string>>;
  /** Per test, requests that matched no operation of the live spec, as `METHOD path (reason)`. */
  unmatchedByTest: Map<string, Set<string>>;
  /** Per test, the stable endpoints answered with a 2xx at least once. */
  succeededByTest: EndpointsByTest;
}

/** The hits of a `--out hits.jsonl` file, one JSON object a line. */
export function readHits(file: string): HitLine[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => HitLineSchema.parse(JSON.parse(line)));
}

/**
 * The hits of a kept run matched again by today's matcher against `catalog`, so a report recomputed from a
 * run's files shows a matcher fix without running the suite again. A request the release's spec does not
 * describe (a CRD's resources, which the proxy matched against its live spec) keeps its recorded operation.
 * @returns the hits and how many changed operation.
 */
export function rematchHits(
  hits: readonly HitLine[],
  catalog: EndpointCatalog,
): { hits: HitLine[]; changed: number } {
  const matcher = compileMatcher(catalog);
  let changed = 0;
  const rematched = hits.map((hit) => {
    const match = matcher.match(hit.method, hit.query ? `${hit.path}?${hit.query}` : hit.path);
    if (match.operationId === null || match.operationId === hit.operationId) return hit;
    changed++;
    return { ...hit, operationId: match.operationId };
  });
  return { hits: rematched, changed };
}

function add(map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(value);
}

/**
 * Groups hits by the e2e test named in their user agent (GUIDE §3) into the stable endpoints of `catalog`.
 * A watch (`?watch=true`) counts for its list endpoint, as the proxy's matcher already reports it; every
 * status counts, as a request is a hit whatever the answer (apisnoop counts audit events the same way).
 */
export function observedEndpointsByTest(
  hits: Iterable<HitLine>,
  catalog: EndpointCatalog,
): ObservedEndpoints {
  const observed: ObservedEndpoints = {
    byTest: new Map(),
    unattributedHits: 0,
    nonStableByTest: new Map(),
    unmatchedByTest: new Map(),
    succeededByTest: new Map(),
  };
  for (const hit of hits) {
    const test = hit.userAgent ? sourceFromUserAgent(hit.userAgent).e2eTest : null;
    if (!test) {
      observed.unattributedHits++;
      continue;
    }
    if (!hit.operationId) {
      add(observed.unmatchedByTest, test, `${hit.method} ${hit.path} (${hit.reason ?? "not matched"})`);
      continue;
    }
    const endpoint = catalog.byOperationId.get(hit.operationId);
    if (endpoint && !endpoint.watchOperation && endpoint.level === "stable") {
      add(observed.byTest, test, hit.operationId);
      if (hit.status >= 200 && hit.status < 300) add(observed.succeededByTest, test, hit.operationId);
    } else {
      add(observed.nonStableByTest, test, hit.operationId);
    }
  }
  return observed;
}

/** apisnoop's stable endpoints per test: its `endpoints[].tests` lists, inverted. */
export function publishedEndpointsByTest(endpoints: readonly ApisnoopEndpoint[]): EndpointsByTest {
  const byTest: EndpointsByTest = new Map();
  for (const endpoint of endpoints) {
    if (endpoint.level !== "stable") continue;
    for (const test of endpoint.tests) if (test) add(byTest, test, endpoint.endpoint);
  }
  return byTest;
}
