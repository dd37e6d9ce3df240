import type { EndpointCatalog } from "@apisnoop/openapi";
import { seededRandom } from "@apisnoop/openapi/testing";
import type { FieldCount, HitRollup, IngestBatch, Source } from "@apisnoop/protocol";
import { sourceFromUserAgent } from "@apisnoop/protocol";
import type { PrismaClient } from "../src/client";
import { recordBatch } from "../src/record-batch";
import { epochMinute, testBatch } from "../src/testing";

/** `count` sources spread over charts, namespaces, pods, service accounts and e2e tests. */
export function benchSources(count: number): Source[] {
  return Array.from({ length: count }, (_, i) => {
    if (i % 10 === 9) return sourceFromUserAgent(`e2e.test/v1.34.0 -- [sig-bench] test ${i} [Conformance]`);
    const chart = `chart-${i % 20}`;
    return {
      ...sourceFromUserAgent(`client-${i % 7}/1.0 (linux/amd64)`),
      chart: `${chart}-1.${i % 3}.0`,
      release: chart,
      managedBy: "Helm",
      namespace: `ns-${i % 25}`,
      pod: `${chart}-pod-${i}`,
      serviceAccount: `sa-${i % 40}`,
    };
  });
}

/**
 * Seeds rollups that represent `totalHits` hits of `sources` sources over the catalog's endpoints across
 * `hours` hours: each source uses a random subset of endpoints in a few random minutes, mostly with 2xx.
 * With `fieldsPerPair`, each source also uses that many body fields of each endpoint it calls (response
 * fields of reads, request fields of writes), in every hour it calls it: drawn from 60 per endpoint, the
 * first ones far more often, as real clients share the common fields (metadata, spec) and differ in the
 * rest. Fields come from their own random stream, so the hits are the same with or without them.
 * Returns the number of hit rows written.
 */
export async function seedRollups(
  prisma: PrismaClient,
  catalog: EndpointCatalog,
  options: {
    sources: number;
    totalHits: number;
    endpointsPerSource: number;
    minutesPerPair: number;
    hours: number;
    fieldsPerPair?: number;
  },
): Promise<{ rows: number; hits: number; fieldRows: number }> {
  const next = seededRandom(42);
  const nextField = seededRandom(7);
  const fieldsPerPair = Math.min(options.fieldsPerPair ?? 0, 60);
  const sources = benchSources(options.sources);
  const operations = catalog.endpoints.map((endpoint) => [endpoint.operationId, endpoint.method] as const);
  const start = epochMinute("2026-11-28T00:00:00Z");
  const pairs = options.sources * options.endpointsPerSource;
  const rowsWanted = pairs * options.minutesPerPair;
  const perRow = Math.max(1, Math.round(options.totalHits / rowsWanted));
  let rows = 0;
  let hits = 0;
  let fieldRows = 0;
  let batch: HitRollup[] = [];
  let fields: FieldCount[] = [];
  const flush = async () => {
    if (batch.length === 0 && fields.length === 0) return;
    const ingest: IngestBatch = testBatch({ sources, hits: batch, fields });
    await recordBatch(prisma, ingest);
    batch = [];
    fields = [];
  };
  for (let source = 0; source < options.sources; source++) {
    const used = new Set<number>();
    while (used.size < Math.min(options.endpointsPerSource, operations.length)) {
      used.add(Math.floor(next() * operations.length));
    }
    for (const operation of used) {
      const [operationId, method] = operations[operation] as readonly [string, string];
      const minutes = new Set<number>();
      while (minutes.size < options.minutesPerPair) minutes.add(Math.floor(next() * options.hours * 60));
      for (const minute of minutes) {
        const count = Math.max(1, Math.round(perRow * (0.5 + next())));
        const roll = next();
        batch.push({
          source,
          operationId,
          method,
          statusClass: roll < 0.85 ? "2xx" : roll < 0.97 ? "4xx" : "5xx",
          minute: start + minute,
          count,
          details: roll < 0.1 ? { watch: count } : {},
        });
        rows++;
        hits += count;
      }
      if (fieldsPerPair > 0) {
        const definition = `io.k8s.api.bench.v1.Kind${operation % 97}`;
        const picked = new Set<number>();
        while (picked.size < fieldsPerPair) picked.add(Math.floor(60 * nextField() ** 2));
        const hours = new Set([...minutes].map((minute) => Math.floor((start + minute) / 60)));
        for (const hour of hours) {
          for (const field of picked) {
            fields.push({
              source,
              operationId,
              direction: method === "GET" ? "response" : "request",
              field: `${definition}:spec.template.field${field}`,
              unknown: false,
              hour,
              count: 1 + Math.floor(nextField() * 20),
            });
            fieldRows++;
          }
        }
      }
      if (batch.length + fields.length >= 50_000) await flush();
    }
  }
  await flush();
  return { rows, hits, fieldRows };
}
