import type { PrismaClient } from "./client";
import { narrowWindow } from "./data-window";
import type { CoverageFilters } from "./filters";
import { resolveRelease } from "./releases";
import { hasWindow, SqlParams, sourceConditions, sourceWindowSql, windowHitsSql } from "./selection-sql";

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
  /** The cluster and the run (a CI run id) the source's calls came from; null when not named. */
  cluster: string | null;
  run: string | null;
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
  s."serviceAccount", s."chart", s."helmRelease", s."managedBy", s."cluster", s."run", s."firstSeen",
  s."lastSeen"`;

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
              CASE WHEN t."hits" > 0 THEN t."firstSeen" END AS "firstHit",
              CASE WHEN t."hits" > 0 THEN t."lastSeen" END AS "lastHit"
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

/** A source with its hits in a selection, as a view's source table lists it. */
export type TopSource = Omit<SourceActivity, "firstHit">;

/** The most active sources of a selection, and how many sources it has. */
export interface TopSources {
  /** At most `limit` sources with hits that count under the outcome, most hits first. */
  sources: TopSource[];
  /** Sources with hits that count under the outcome. */
  count: number;
}

/**
 * The `limit` sources of the selection with most hits (among those with hits under its outcome), and how
 * many such sources there are: what a view's source table shows, without listing every source. Over a
 * time window the per-source rollups rank them (a few rows per source, not one per endpoint); only the
 * listed sources' endpoints are then counted: for a window open to now from their all-time totals (an
 * endpoint was hit since `from` exactly when it was last hit at or after `from`), else from their rollups.
 */
export async function topSources(
  prisma: PrismaClient,
  asked: CoverageFilters,
  limit: number,
  options: {
    /** Leave out the sources with this `name` (listed apart as one, `sourcesNamed`): neither listed nor counted. */
    except?: string;
  } = {},
): Promise<TopSources> {
  const [release, filters] = await Promise.all([
    resolveRelease(prisma, asked.release),
    narrowWindow(prisma, asked),
  ]);
  const params = new SqlParams();
  const releaseParam = params.add(release);
  const counted = filters.outcome === "2xx" ? "hits2xx" : "hits";
  const except =
    options.except === undefined ? undefined : `s."name" IS DISTINCT FROM ${params.add(options.except)}`;
  const rows = await prisma.$queryRawUnsafe<Array<TopSource & { count: number }>>(
    hasWindow(filters)
      ? windowedTopSql(filters, params, releaseParam, limit, except)
      : `WITH ranked AS (
           SELECT t.*, count(*) OVER ()::int AS count FROM "SourceTotal" t
           ${joinSelected(filters, params, "t", except)}
           WHERE t."release" = ${releaseParam} AND t."${counted}" > 0
           ORDER BY t."hits" DESC, t."sourceId" LIMIT ${params.add(limit)}
         )
         SELECT ${SOURCE_COLUMNS}, r."hits"::float8 AS hits, r."hits2xx"::float8 AS hits2xx,
                r."${filters.outcome === "2xx" ? "endpoints2xx" : "endpoints"}" AS endpoints,
                r."lastSeen" AS "lastHit", r.count
         FROM ranked r JOIN "Source" s ON s."id" = r."sourceId"
         ORDER BY r."hits" DESC, s."id"`,
    ...params.values,
  );
  return { sources: rows.map(({ count: _, ...source }) => source), count: rows[0]?.count ?? 0 };
}

/**
 * `JOIN "Source" s` restricted to the source filters and `scope` (a condition on `s`), for a table aliased
 * `alias`; "" without either.
 */
function joinSelected(filters: CoverageFilters, params: SqlParams, alias: string, scope?: string): string {
  const filtered = sourceConditions(filters, params);
  const conditions = [filtered, scope].filter(Boolean).join(" AND ");
  return conditions ? `JOIN "Source" s ON s."id" = ${alias}."sourceId" AND ${conditions}` : "";
}

function windowedTopSql(
  filters: CoverageFilters,
  params: SqlParams,
  releaseParam: string,
  limit: number,
  scope?: string,
): string {
  const counted = filters.outcome === "2xx" ? "hits2xx" : "hits";
  const first = filters.outcome === "2xx" ? "first2xx" : "firstSeen";
  // A window is open at one end at least; open to now, a pair counts when its last hit is in the window
  // (minutes overlapping it count: the one `from` falls in too).
  const since = () =>
    `${params.add(new Date(Math.floor((filters.from as Date).getTime() / 60_000) * 60_000))}::timestamptz`;
  const endpoints =
    filters.to === undefined
      ? `SELECT count(*) FILTER (WHERE t."${filters.outcome === "2xx" ? "last2xx" : "lastSeen"}" >= ${since()})::int AS endpoints,
                max(t."lastSeen") AS "lastHit"
         FROM "HitTotal" t
         WHERE t."release" = ${releaseParam} AND t."sourceId" = r."sourceId" AND t."lastSeen" >= ${since()}`
      : `SELECT count(*) FILTER (WHERE p.counted)::int AS endpoints, max(p.last) AS "lastHit"
         FROM (SELECT w."operationId", bool_or(w."${first}" IS NOT NULL) AS counted, max(w."lastSeen") AS last
               FROM (${windowHitsSql(filters, params, releaseParam, undefined, `r."sourceId"`)}) w
               GROUP BY w."operationId") p`;
  return `WITH ranked AS (
       SELECT a.*, count(*) OVER ()::int AS count
       FROM (SELECT w."sourceId", sum(w.hits)::float8 AS hits, sum(w.hits2xx)::float8 AS hits2xx
             FROM (${sourceWindowSql(filters, params, releaseParam)}) w
             GROUP BY w."sourceId") a
       ${scope ? `JOIN "Source" s ON s."id" = a."sourceId" AND ${scope}` : ""}
       WHERE a.${counted} > 0
       ORDER BY a.hits DESC, a."sourceId" LIMIT ${params.add(limit)}
     )
     SELECT ${SOURCE_COLUMNS}, r.hits, r.hits2xx, r.count, e.endpoints, e."lastHit"
     FROM ranked r JOIN "Source" s ON s."id" = r."sourceId"
     CROSS JOIN LATERAL (${endpoints}) e
     ORDER BY r.hits DESC, s."id"`;
}

/** The sources of a selection that share one `name`, summed: what a view shows as one row for many. */
export interface SourceGroup {
  /** Their hits, and those with a 2xx response. */
  hits: number;
  hits2xx: number;
  /** How many of them have hits that count under the outcome, and how many of those are e2e tests. */
  sources: number;
  tests: number;
}

/**
 * The sources named `name` in a selection (its source filters, release, time window and outcome), summed
 * over those with hits that count under the outcome; null when none has. Read from the per-source totals
 * or rollups, like `topSources`: a few rows per source, never one per endpoint.
 */
export async function sourcesNamed(
  prisma: PrismaClient,
  asked: CoverageFilters,
  name: string,
): Promise<SourceGroup | null> {
  const [release, filters] = await Promise.all([
    resolveRelease(prisma, asked.release),
    narrowWindow(prisma, asked),
  ]);
  const params = new SqlParams();
  const releaseParam = params.add(release);
  const counted = filters.outcome === "2xx" ? "hits2xx" : "hits";
  const perSource = hasWindow(filters)
    ? `SELECT w."sourceId", sum(w.hits) AS hits, sum(w.hits2xx) AS hits2xx
       FROM (${sourceWindowSql(filters, params, releaseParam)}) w GROUP BY w."sourceId"`
    : `SELECT t."sourceId", t."hits", t."hits2xx" FROM "SourceTotal" t
       ${joinSelected(filters, params, "t")} WHERE t."release" = ${releaseParam}`;
  const [row] = await prisma.$queryRawUnsafe<Array<SourceGroup>>(
    `SELECT coalesce(sum(a.hits), 0)::float8 AS hits, coalesce(sum(a.hits2xx), 0)::float8 AS hits2xx,
            count(*)::int AS sources, count(n."e2eTest")::int AS tests
     FROM (${perSource}) a JOIN "Source" n ON n."id" = a."sourceId" AND n."name" = ${params.add(name)}
     WHERE a.${counted} > 0`,
    ...params.values,
  );
  return row && row.sources > 0 ? row : null;
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
