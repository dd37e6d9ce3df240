/** apisnoop's published per-release coverage (resources/coverage/1.NN.0.json), as far as we read it. */
export interface ApisnoopCoverage {
  release: string;
  totalEndpoints: number;
  testedEndpoints: number;
  /** Per endpoint: tested by any e2e test, by a conformance test, and by which tests. */
  endpoints: Map<string, { tested: boolean; confTested: boolean; tests: string[] }>;
  /** Conformance tests among `tests` (by name). */
  conformanceTests: Set<string>;
  eligibleTotal: number | null;
  eligibleTested: number | null;
}

/** Parses apisnoop's coverage JSON; throws a one-line error when it is not that. */
export function parseApisnoopCoverage(json: unknown): ApisnoopCoverage {
  const doc = json as Record<string, unknown> | null;
  if (!doc || typeof doc !== "object" || !Array.isArray(doc.endpoints) || typeof doc.release !== "string") {
    throw new Error("not apisnoop coverage JSON: expected an object with 'release' and 'endpoints'");
  }
  const endpoints: ApisnoopCoverage["endpoints"] = new Map();
  for (const raw of doc.endpoints as Record<string, unknown>[]) {
    if (typeof raw?.endpoint !== "string")
      throw new Error("not apisnoop coverage JSON: an endpoint has no 'endpoint'");
    endpoints.set(raw.endpoint, {
      tested: raw.tested === true,
      confTested: raw.conf_tested === true,
      tests: Array.isArray(raw.tests) ? raw.tests.filter((t): t is string => typeof t === "string") : [],
    });
  }
  const conformanceTests = new Set<string>();
  for (const test of Array.isArray(doc.tests) ? (doc.tests as Record<string, unknown>[]) : []) {
    if (test?.conformance_test === true && typeof test.test === "string") conformanceTests.add(test.test);
  }
  const number = (key: string) => (typeof doc[key] === "number" ? (doc[key] as number) : null);
  return {
    release: doc.release.replace(/\.0$/, ""),
    totalEndpoints: number("total endpoints") ?? endpoints.size,
    testedEndpoints: number("tested endpoints") ?? [...endpoints.values()].filter((e) => e.tested).length,
    endpoints,
    conformanceTests,
    eligibleTotal: number("total conformance eligible endpoints"),
    eligibleTested: number("tested conformance eligible endpoints"),
  };
}
