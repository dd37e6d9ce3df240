import type { EndpointCatalog } from "@apisnoop/openapi";
import { isConformanceEligible } from "./eligibility";

/** What the export needs of each used operation: its e2e tests (conformance flagged) — see `getUsage`. */
export interface ExportedUsage {
  operationId: string;
  callers: { e2eTest: string | null; conformance: boolean }[];
}

/**
 * Coverage in apisnoop's published format (resources/coverage/1.NN.0.json), so apisnoop's own tools and
 * `apisnoop import apisnoop` can read it: every endpoint of the release with `tested`, `conf_tested` and
 * the e2e tests that hit it, the tests list, and the totals.
 */
export function toApisnoopFormat(
  catalog: EndpointCatalog,
  usage: readonly ExportedUsage[],
  ineligible: ReadonlyMap<string, unknown>,
  options: { releaseDate?: string | null; source?: string } = {},
) {
  const release = `${catalog.release}.0`;
  const byOperation = new Map(usage.map((u) => [u.operationId, u]));
  const tests = new Map<string, boolean>();
  const endpoints = catalog.endpoints.map((endpoint) => {
    const callers = byOperation.get(endpoint.operationId)?.callers ?? [];
    const named = [...new Set(callers.flatMap((c) => (c.e2eTest ? [c.e2eTest] : [])))].sort();
    for (const caller of callers)
      if (caller.e2eTest)
        tests.set(caller.e2eTest, caller.conformance || (tests.get(caller.e2eTest) ?? false));
    return {
      kind: endpoint.kind,
      path: endpoint.path,
      group: endpoint.group,
      level: endpoint.level,
      tests: named,
      action: endpoint.action,
      tested: callers.length > 0,
      release,
      version: endpoint.version,
      category: endpoint.category,
      endpoint: endpoint.operationId,
      conf_tested: callers.some((c) => c.conformance),
      description: endpoint.description,
    };
  });
  const eligible = new Set(
    catalog.endpoints.filter((e) => isConformanceEligible(e, ineligible)).map((e) => e.operationId),
  );
  const eligibleRows = endpoints.filter((e) => eligible.has(e.endpoint));
  return {
    spec: `https://raw.githubusercontent.com/kubernetes/kubernetes/v${release}/api/openapi-spec/swagger.json`,
    tests: [...tests].sort().map(([test, conformance]) => ({
      file: null,
      test,
      release,
      testname: null,
      conformance_test: conformance,
      promotion_release: null,
    })),
    release,
    sources: options.source ? [options.source] : [],
    endpoints,
    release_date: options.releaseDate ?? null,
    "total endpoints": endpoints.length,
    "tested endpoints": endpoints.filter((e) => e.tested).length,
    "total conformance eligible endpoints": eligibleRows.length,
    "tested conformance eligible endpoints": eligibleRows.filter((e) => e.conf_tested).length,
  };
}
