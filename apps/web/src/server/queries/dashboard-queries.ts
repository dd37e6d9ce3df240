import type { PrismaClient } from "@apisnoop/db";
import type { Level } from "@apisnoop/openapi";
import type { Source } from "@apisnoop/protocol";
import type {
  DashboardFilters,
  EndpointCoverage,
  SourceSummaryRow,
  UnknownCallRow,
  UnknownFieldRow,
} from "../../data/dashboard-data";
import { chartName, NO_FILTERS } from "../../filters/dashboard-filters";
import { sourceLabel } from "../../sources/source-label";
import { and, hitsSource, SqlParams, sourceConditions } from "./sql-filter";

/**
 * The dashboard's read queries: one raw statement each over the rollup tables, filtered in SQL.
 * Counts come back as float8 (exact up to 2^53) so they are plain numbers.
 */

/** Raw SQL runner: what these queries need of a Prisma client. */
export type SqlClient = Pick<PrismaClient, "$queryRawUnsafe">;

interface EndpointRow {
  operationId: string;
  method: string;
  path: string;
  level: Level;
  category: string;
  group: string | null;
  version: string | null;
  kind: string | null;
  deprecated: boolean;
  conformanceEligible: boolean;
  hits: number;
}

/** Every endpoint of `release` (at the filter's level) with its hits under the filters, by operationId. */
export async function endpointCoverage(
  sql: SqlClient,
  release: string,
  filters: DashboardFilters,
  now: Date,
): Promise<Omit<EndpointCoverage, "upstreamTested">[]> {
  const params = new SqlParams();
  const hits = hitsSource(filters, release, params, now);
  const sources = sourceConditions(filters, params);
  const hitsBy = sources.length
    ? `SELECT x."operationId", SUM(x."count") AS hits FROM ${hits} x JOIN "Source" s ON s."id" = x."sourceId"
       WHERE true${and(sources)} GROUP BY x."operationId"`
    : `SELECT x."operationId", SUM(x."count") AS hits FROM ${hits} x GROUP BY x."operationId"`;
  const releaseParam = params.add(release);
  const level = filters.level ? ` AND e."level" = ${params.add(filters.level)}` : "";
  return sql.$queryRawUnsafe<EndpointRow[]>(
    `SELECT e."operationId", e."method", e."path", e."level", e."category", e."group", e."version", e."kind",
            e."deprecated", e."conformanceEligible", COALESCE(h.hits, 0)::float8 AS hits
     FROM "Endpoint" e LEFT JOIN (${hitsBy}) h ON h."operationId" = e."operationId"
     WHERE e."release" = ${releaseParam} AND NOT e."watchOperation"${level}
     ORDER BY e."operationId"`,
    ...params.values,
  );
}

interface SourceRow {
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
}

const SOURCE_COLUMNS = `s."id", s."userAgent", s."e2eTest", s."conformance", s."name", s."namespace", s."pod",
  s."serviceAccount", s."chart", s."helmRelease", s."managedBy"`;

/** The protocol's Source of a stored row. */
export function sourceOfRow(row: SourceRow): Source {
  return {
    userAgent: row.userAgent,
    e2eTest: row.e2eTest,
    conformance: row.conformance,
    name: row.name,
    namespace: row.namespace,
    pod: row.pod,
    serviceAccount: row.serviceAccount,
    chart: row.chart,
    release: row.helmRelease,
    managedBy: row.managedBy,
  };
}

/** Sources of the selection with their hits and endpoints, most hits first; and how many there are. */
export async function sourceSummary(
  sql: SqlClient,
  release: string,
  filters: DashboardFilters,
  now: Date,
  options: { operationId?: string; limit?: number } = {},
): Promise<{ rows: SourceSummaryRow[]; count: number }> {
  const params = new SqlParams();
  const hits = hitsSource(filters, release, params, now);
  const conditions = sourceConditions(filters, params);
  // Only hits on counted endpoints (at the filter's level) belong to the selection.
  const releaseParam = params.add(release);
  const level = filters.level ? ` AND e."level" = ${params.add(filters.level)}` : "";
  if (options.operationId) conditions.push(`x."operationId" = ${params.add(options.operationId)}`);
  const from = `FROM ${hits} x JOIN "Source" s ON s."id" = x."sourceId"
    JOIN "Endpoint" e ON e."release" = ${releaseParam} AND e."operationId" = x."operationId"
                     AND NOT e."watchOperation"${level}
    WHERE true${and(conditions)}`;
  const limit = params.add(options.limit ?? 50);
  const [rows, counted] = await Promise.all([
    sql.$queryRawUnsafe<Array<SourceRow & { hits: number; endpoints: number; lastSeen: Date | null }>>(
      `SELECT ${SOURCE_COLUMNS}, SUM(x."count")::float8 AS hits,
              COUNT(DISTINCT x."operationId")::int AS endpoints, MAX(x."lastSeen") AS "lastSeen"
       ${from} GROUP BY s."id" ORDER BY hits DESC, s."id" LIMIT ${limit}`,
      ...params.values,
    ),
    sql.$queryRawUnsafe<Array<{ count: number }>>(
      `SELECT COUNT(DISTINCT s."id")::int AS count ${from}`,
      ...params.values.slice(0, -1), // all but the LIMIT, which was added last
    ),
  ]);
  return {
    rows: rows.map((row) => {
      const source = sourceOfRow(row);
      return {
        key: String(row.id),
        label: sourceLabel(source),
        source,
        hits: row.hits,
        endpoints: row.endpoints,
        lastSeen: row.lastSeen ? row.lastSeen.toISOString() : null,
      };
    }),
    count: counted[0]?.count ?? 0,
  };
}

/** Calls that matched no endpoint under the source, outcome and window filters. */
export async function unknownCallCount(
  sql: SqlClient,
  filters: DashboardFilters,
  now: Date,
): Promise<number> {
  const params = new SqlParams();
  const where = unknownCallConditions(filters, params, now);
  const rows = await sql.$queryRawUnsafe<Array<{ count: number }>>(
    `SELECT COALESCE(SUM(u."count"), 0)::float8 AS count FROM "UnknownCall" u JOIN "Source" s ON s."id" = u."sourceId"
     WHERE true${and(where)}`,
    ...params.values,
  );
  return rows[0]?.count ?? 0;
}

/** Unknown calls grouped by method, path and reason, most frequent first, with their sources. */
export async function unknownCalls(
  sql: SqlClient,
  filters: DashboardFilters,
  now: Date,
  limit = 500,
): Promise<UnknownCallRow[]> {
  const params = new SqlParams();
  const where = unknownCallConditions(filters, params, now);
  const rows = await sql.$queryRawUnsafe<
    Array<{
      method: string;
      path: string;
      reason: string;
      hits: number;
      lastSeen: Date;
      sources: SourceRow[];
    }>
  >(
    `SELECT u."method", u."path", u."reason", SUM(u."count")::float8 AS hits,
            MAX(u."minute") + interval '1 minute' AS "lastSeen",
            json_agg(DISTINCT jsonb_build_object('id', s."id", 'userAgent', s."userAgent", 'e2eTest', s."e2eTest",
              'conformance', s."conformance", 'name', s."name", 'namespace', s."namespace", 'pod', s."pod",
              'serviceAccount', s."serviceAccount", 'chart', s."chart", 'helmRelease', s."helmRelease",
              'managedBy', s."managedBy")) AS sources
     FROM "UnknownCall" u JOIN "Source" s ON s."id" = u."sourceId"
     WHERE true${and(where)}
     GROUP BY u."method", u."path", u."reason" ORDER BY hits DESC, u."path" LIMIT ${params.add(limit)}`,
    ...params.values,
  );
  return rows.map((row) => ({
    method: row.method,
    path: row.path,
    reason: row.reason,
    hits: row.hits,
    lastSeen: row.lastSeen.toISOString(),
    sources: labelsOf(row.sources),
  }));
}

function unknownCallConditions(filters: DashboardFilters, params: SqlParams, now: Date): string[] {
  const where = sourceConditions(filters, params);
  if (filters.outcome === "2xx") where.push(`u."statusClass" = '2xx'`);
  if (filters.windowMinutes !== null) {
    where.push(`u."minute" >= ${params.add(new Date(now.getTime() - filters.windowMinutes * 60_000))}`);
  }
  return where;
}

/** Field paths of one release's bodies under the source and window filters. */
export async function fieldUses(
  sql: SqlClient,
  release: string,
  filters: DashboardFilters,
  now: Date,
  options: { operationId?: string; unknownOnly?: boolean; limit?: number },
): Promise<Array<UnknownFieldRow & { unknown: boolean }>> {
  const params = new SqlParams();
  const where = [`f."release" = ${params.add(release)}`, ...sourceConditions(filters, params)];
  if (options.operationId) where.push(`f."operationId" = ${params.add(options.operationId)}`);
  if (options.unknownOnly) where.push(`f."unknown"`);
  if (filters.windowMinutes !== null) {
    where.push(
      `f."hour" >= date_trunc('hour', ${params.add(new Date(now.getTime() - filters.windowMinutes * 60_000))}::timestamptz)`,
    );
  }
  const rows = await sql.$queryRawUnsafe<
    Array<{
      operationId: string;
      direction: "request" | "response";
      field: string;
      unknown: boolean;
      hits: number;
      sources: SourceRow[];
    }>
  >(
    `SELECT f."operationId", f."direction", f."field", bool_or(f."unknown") AS unknown, SUM(f."count")::float8 AS hits,
            json_agg(DISTINCT jsonb_build_object('id', s."id", 'userAgent', s."userAgent", 'e2eTest', s."e2eTest",
              'conformance', s."conformance", 'name', s."name", 'namespace', s."namespace", 'pod', s."pod",
              'serviceAccount', s."serviceAccount", 'chart', s."chart", 'helmRelease', s."helmRelease",
              'managedBy', s."managedBy")) AS sources
     FROM "FieldCount" f JOIN "Source" s ON s."id" = f."sourceId"
     WHERE ${where.join(" AND ")}
     GROUP BY f."operationId", f."direction", f."field" ORDER BY hits DESC, f."field"
     LIMIT ${params.add(options.limit ?? 2000)}`,
    ...params.values,
  );
  return rows.map((row) => ({
    operationId: row.operationId,
    direction: row.direction,
    field: row.field,
    unknown: row.unknown,
    hits: row.hits,
    sources: labelsOf(row.sources),
  }));
}

/** Distinct field paths (and unknown ones) per kind of the endpoints a selection's bodies used. */
export async function fieldsByKind(
  sql: SqlClient,
  release: string,
  filters: DashboardFilters,
): Promise<Array<{ kind: string; fields: number; unknown: number }>> {
  const params = new SqlParams();
  const where = [`f."release" = ${params.add(release)}`, ...sourceConditions(filters, params)];
  return sql.$queryRawUnsafe(
    `SELECT COALESCE(e."kind", '(no kind)') AS kind, COUNT(DISTINCT f."field")::int AS fields,
            (COUNT(DISTINCT f."field") FILTER (WHERE f."unknown"))::int AS unknown
     FROM "FieldCount" f JOIN "Source" s ON s."id" = f."sourceId"
     JOIN "Endpoint" e ON e."release" = f."release" AND e."operationId" = f."operationId"
     WHERE ${where.join(" AND ")}
     GROUP BY 1 ORDER BY fields DESC, kind`,
    ...params.values,
  );
}

/** Hits per status class of one endpoint under the filters. */
export async function statusClasses(
  sql: SqlClient,
  release: string,
  operationId: string,
  filters: DashboardFilters,
  now: Date,
): Promise<Array<{ statusClass: string; hits: number }>> {
  const params = new SqlParams();
  const hits = hitsSource(filters, release, params, now);
  const where = [`x."operationId" = ${params.add(operationId)}`, ...sourceConditions(filters, params)];
  return sql.$queryRawUnsafe(
    `SELECT x."statusClass", SUM(x."count")::float8 AS hits FROM ${hits} x JOIN "Source" s ON s."id" = x."sourceId"
     WHERE ${where.join(" AND ")} GROUP BY x."statusClass" ORDER BY x."statusClass"`,
    ...params.values,
  );
}

/** First and last hit of one endpoint under the filters. */
export async function seenRange(
  sql: SqlClient,
  release: string,
  operationId: string,
  filters: DashboardFilters,
  now: Date,
): Promise<{ firstSeen: Date | null; lastSeen: Date | null }> {
  const params = new SqlParams();
  const hits = hitsSource(filters, release, params, now);
  const where = [`x."operationId" = ${params.add(operationId)}`, ...sourceConditions(filters, params)];
  const rows = await sql.$queryRawUnsafe<Array<{ firstSeen: Date | null; lastSeen: Date | null }>>(
    `SELECT MIN(x."firstSeen") AS "firstSeen", MAX(x."lastSeen") AS "lastSeen"
     FROM ${hits} x JOIN "Source" s ON s."id" = x."sourceId" WHERE ${where.join(" AND ")}`,
    ...params.values,
  );
  return rows[0] ?? { firstSeen: null, lastSeen: null };
}

/** Hits of a chart's pods, per namespace and pod. */
export async function podBreakdown(
  sql: SqlClient,
  release: string,
  filters: DashboardFilters,
  now: Date,
): Promise<Array<{ namespace: string | null; pod: string | null; hits: number; endpoints: number }>> {
  const params = new SqlParams();
  const hits = hitsSource(filters, release, params, now);
  const where = sourceConditions(filters, params);
  return sql.$queryRawUnsafe(
    `SELECT s."namespace", s."pod", SUM(x."count")::float8 AS hits, COUNT(DISTINCT x."operationId")::int AS endpoints
     FROM ${hits} x JOIN "Source" s ON s."id" = x."sourceId" WHERE true${and(where)}
     GROUP BY s."namespace", s."pod" ORDER BY hits DESC LIMIT 500`,
    ...params.values,
  );
}

/** Whether any stored source belongs to the chart (by name, any version). */
export async function chartExists(sql: SqlClient, chart: string): Promise<boolean> {
  const params = new SqlParams();
  const where = sourceConditions({ ...NO_FILTERS, chart }, params);
  const rows = await sql.$queryRawUnsafe<unknown[]>(
    `SELECT 1 FROM "Source" s WHERE ${where.join(" AND ")} LIMIT 1`,
    ...params.values,
  );
  return rows.length > 0;
}

/** One endpoint's stored description (null when the release has no such endpoint). */
export async function endpointRow(
  sql: SqlClient,
  release: string,
  operationId: string,
): Promise<
  | (Omit<EndpointRow, "hits"> & {
      description: string | null;
      action: string | null;
      ineligibleReason: string | null;
    })
  | null
> {
  const rows = await sql.$queryRawUnsafe<
    Array<
      Omit<EndpointRow, "hits"> & {
        description: string | null;
        action: string | null;
        ineligibleReason: string | null;
      }
    >
  >(
    `SELECT "operationId", "method", "path", "level", "category", "group", "version", "kind", "deprecated",
            "conformanceEligible", "description", "action", "ineligibleReason"
     FROM "Endpoint" WHERE "release" = $1 AND "operationId" = $2 AND NOT "watchOperation"`,
    release,
    operationId,
  );
  return rows[0] ?? null;
}

/** Distinct values of each source attribute (charts by name, user agents by product token). */
export async function sourceFacetValues(
  sql: SqlClient,
): Promise<Record<"chart" | "namespace" | "pod" | "serviceAccount" | "userAgent" | "e2eTest", string[]>> {
  const rows = await sql.$queryRawUnsafe<
    Array<Record<"chart" | "namespace" | "pod" | "serviceAccount" | "userAgent" | "e2eTest", string[] | null>>
  >(
    `SELECT array_agg(DISTINCT "chart") FILTER (WHERE "chart" IS NOT NULL) AS chart,
            array_agg(DISTINCT "namespace") FILTER (WHERE "namespace" IS NOT NULL) AS namespace,
            array_agg(DISTINCT "pod") FILTER (WHERE "pod" IS NOT NULL) AS pod,
            array_agg(DISTINCT "serviceAccount") FILTER (WHERE "serviceAccount" IS NOT NULL) AS "serviceAccount",
            array_agg(DISTINCT split_part("userAgent", ' ', 1)) AS "userAgent",
            array_agg(DISTINCT "e2eTest") FILTER (WHERE "e2eTest" IS NOT NULL) AS "e2eTest"
     FROM "Source"`,
  );
  const row = rows[0];
  const list = (values: string[] | null | undefined) => (values ?? []).filter(Boolean).sort().slice(0, 500);
  return {
    chart: [...new Set(list(row?.chart).map(chartName))],
    namespace: list(row?.namespace),
    pod: list(row?.pod),
    serviceAccount: list(row?.serviceAccount),
    userAgent: list(row?.userAgent),
    e2eTest: list(row?.e2eTest),
  };
}

function labelsOf(rows: SourceRow[]): string[] {
  return [...new Set(rows.map((row) => sourceLabel(sourceOfRow(row))))].sort();
}
