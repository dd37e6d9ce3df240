import type { EndpointCatalog } from "@apisnoop/openapi";
import {
  contentBatchId,
  type IngestBatch,
  PROTOCOL_VERSION,
  type Source,
  UPSTREAM_E2E,
} from "@apisnoop/protocol";
import type { ApisnoopCoverage } from "./apisnoop-coverage";

export { UPSTREAM_E2E };

/**
 * The source an imported upstream e2e test's hits are stored under (`test` null: apisnoop's hits tied to
 * no test); `upstreamSource(null, false)` stands for all of them.
 */
export function upstreamSource(test: string | null, conformance: boolean): Source {
  return {
    userAgent: "e2e.test",
    e2eTest: test,
    conformance,
    name: UPSTREAM_E2E,
    namespace: null,
    pod: null,
    serviceAccount: null,
    chart: null,
    helmRelease: null,
    managedBy: null,
    cluster: null,
    run: null,
  };
}

/**
 * apisnoop's published coverage of a release as one ingest batch of the source `upstream-e2e`: one hit
 * per (endpoint, e2e test) that apisnoop saw, dated at `at`. Endpoints apisnoop marks tested without
 * naming a test count once, for a source without a test name. The batch id derives from the data, so a
 * re-import changes nothing.
 */
export function upstreamE2eBatch(
  coverage: ApisnoopCoverage,
  catalog: EndpointCatalog,
  at: number,
): IngestBatch {
  const sources: Source[] = [];
  const index = new Map<string, number>();
  const sourceIndex = (test: string | null) => {
    const key = test ?? "";
    let i = index.get(key);
    if (i === undefined) {
      i = sources.length;
      const conformance =
        test !== null && (coverage.conformanceTests.has(test) || test.includes("[Conformance]"));
      sources.push(upstreamSource(test, conformance));
      index.set(key, i);
    }
    return i;
  };
  const minute = Math.floor(at / 60_000);
  const hits: IngestBatch["hits"] = [];
  for (const [operationId, endpoint] of coverage.endpoints) {
    if (!endpoint.tested) continue;
    const method = catalog.byOperationId.get(operationId)?.method ?? "GET";
    // apisnoop lists "" (or null) for hits it could not tie to a test: one source without a test name.
    const named = [...new Set(endpoint.tests.map((t) => t || null))];
    const tests = named.length > 0 ? named : [null];
    for (const test of tests) {
      hits.push({
        source: sourceIndex(test),
        operationId,
        method,
        statusClass: "2xx",
        minute,
        count: 1,
        details: {},
      });
    }
  }
  return {
    protocol: PROTOCOL_VERSION,
    batchId: contentBatchId(
      UPSTREAM_E2E,
      coverage.release,
      JSON.stringify(hits.map((h) => [h.operationId, h.source])),
      JSON.stringify(sources),
    ),
    proxyId: UPSTREAM_E2E,
    release: coverage.release,
    sentAt: at,
    sources,
    hits,
    unknownCalls: [],
    fields: [],
  };
}
