import type { PrismaClient } from "./client";
import { narrowWindow } from "./data-window";
import type { CoverageFilters } from "./filters";
import { resolveRelease } from "./releases";
import { hasWindow, SqlParams, sourceConditions, windowHitsSql } from "./selection-sql";

/** A source as stored (protocol `Source`; its Helm release is `helmRelease`). */
export interface SourceSummary {
  id: number;
  userAgent: string;
  e2eTest: string | null;
  conformance: boolean;
  name: string | null;
  namespace: string | null;
  pod: string | null;
  serviceAccount: string | null;
  chart: string | null;
  helmRelease: string | null;
  managedBy: string | null;
  /** First and last minute the source was seen, in any release. */
  firstSeen: Date;
  lastSeen: Date;
}

/** A source with its hits in a selection (release, time window, outcome). */
export interface SourceActivity extends SourceSummary {
  hits: number;
  hits2xx: number;
  /** Distinct endpoints with hits that count under the outcome. */
  endpoints: number;
  /** First and last minute with hits in the selection; null without any. */
  firstHit: Date | null;
  lastHit: Date | null;
}

const SOURCE_COLUMNS = `s."id", s."userAgent", s."e2eTest", s."conformance", s."name", s."namespace", s."pod",
  s."serviceAccount", s."chart", s."helmRelease", s."managedBy", s."firstSeen", s."lastSeen"`;

/**
 * The sources that match the source filters, each with its hits in the release (default: the default
 * release) and time window of `filters`, most hits first. Sources without hits in the selection are
 * listed too (with zeros), so pickers can offer every source there is.
 */
export async function listSources(prisma: PrismaClient, asked: CoverageFilters): Promise<SourceActivity[]> {
  const [release, filters] = await Promise.all([
    resolveRelease(prisma, asked.release),
    narrowWindow(prisma, asked),
  ]);
  const params = new SqlParams();
  const releaseParam = params.add(release);
  // Without a window, the totals kept per source at ingest; with one, only the selected sources' rows
  // are aggregated (a source filter narrows the scan, not just the output), first per source x endpoint
  // and then per source: two hash aggregates, where a distinct count of endpoints sorted every row
  // (a third faster in EXPLAIN ANALYZE of a user agent's 6 h window).
  const activity = hasWindow(filters)
    ? `SELECT p."sourceId", sum(p.hits)::float8 AS hits, sum(p.hits2xx)::float8 AS hits2xx,
              count(*) FILTER (WHERE p.counted)::int AS endpoints,
              min(p."firstSeen") AS "firstHit", max(p."lastSeen") AS "lastHit"
       FROM (SELECT w."sourceId", sum(w.hits) AS hits, sum(w.hits2xx) AS hits2xx,
                    bool_or(w."${filters.outcome === "2xx" ? "first2xx" : "firstSeen"}" IS NOT NULL) AS counted,
                    min(w."firstSeen") AS "firstSeen", max(w."lastSeen") AS "lastSeen"
             FROM (${windowHitsSql(filters, params, releaseParam)}) w
             GROUP BY w."sourceId", w."operationId") p
       GROUP BY p."sourceId"`
    : `SELECT t."sourceId", t."hits"::float8 AS hits, t."hits2xx"::float8 AS hits2xx,
              t."${filters.outcome === "2xx" ? "endpoints2xx" : "endpoints"}" AS endpoints,
              t."firstSeen" AS "firstHit", t."lastSeen" AS "lastHit"
       FROM "SourceTotal" t WHERE t."release" = ${releaseParam}`;
  const conditions = sourceConditions(filters, params);
  return prisma.$queryRawUnsafe<SourceActivity[]>(
    `WITH activity AS (${activity})
     SELECT ${SOURCE_COLUMNS}, coalesce(a.hits, 0) AS hits, coalesce(a.hits2xx, 0) AS hits2xx,
            coalesce(a.endpoints, 0) AS endpoints, a."firstHit", a."lastHit"
     FROM "Source" s LEFT JOIN activity a ON a."sourceId" = s."id"
     ${conditions ? `WHERE ${conditions}` : ""}
     ORDER BY hits DESC, s."id"`,
    ...params.values,
  );
}

/** The stored sources with these ids, by id. */
export async function sourcesById(
  prisma: PrismaClient,
  ids: readonly number[],
): Promise<Map<number, SourceSummary>> {
  if (ids.length === 0) return new Map();
  const rows = await prisma.source.findMany({
    where: { id: { in: [...new Set(ids)] } },
    omit: { key: true },
  });
  return new Map(rows.map((row) => [row.id, row]));
}
