import type { CoverageFilters, SourceFilters } from "./filters";

/**
 * SQL fragments of a filtered selection, shared by the query functions: which sources, which time
 * window, which outcome. Values always travel as parameters, never inside the SQL text.
 */

/** Positional parameters of one statement: `add(value)` returns its placeholder ("$3"). */
export class SqlParams {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * Conditions on `"Source"` (aliased `alias`) for the source filters, or null when there are none.
 * Matching rules are those documented on SourceFilters.
 */
export function sourceConditions(filters: SourceFilters, params: SqlParams, alias = "s"): string | null {
  const conditions: string[] = [];
  const column = (name: string) => `${alias}."${name}"`;
  for (const name of ["namespace", "pod", "serviceAccount", "e2eTest", "name"] as const) {
    const value = filters[name];
    if (value !== undefined) conditions.push(`${column(name)} = ${params.add(value)}`);
  }
  if (filters.userAgent !== undefined) {
    conditions.push(`starts_with(${column("userAgent")}, ${params.add(filters.userAgent)})`);
  }
  if (filters.chart !== undefined) {
    const chart = params.add(filters.chart);
    // helm.sh/chart is "<name>-<version>": the name alone matches every version, and only that chart.
    conditions.push(
      `(${column("chart")} = ${chart} OR (starts_with(${column("chart")}, ${chart} || '-') AND substr(${column("chart")}, length(${chart}) + 2) ~ '^v?[0-9]'))`,
    );
  }
  return conditions.length > 0 ? conditions.join(" AND ") : null;
}

/**
 * `AND "<sourceColumn>" IN (the filtered sources)`, or "" without source filters.
 */
export function sourceRestriction(filters: SourceFilters, params: SqlParams, sourceColumn: string): string {
  const conditions = sourceConditions(filters, params);
  return conditions ? ` AND ${sourceColumn} IN (SELECT s."id" FROM "Source" s WHERE ${conditions})` : "";
}

/**
 * `AND` conditions keeping buckets that overlap the window [from, to): `bucketColumn` holds the start of a
 * minute or an hour (`unit`).
 */
export function windowRestriction(
  filters: Pick<CoverageFilters, "from" | "to">,
  params: SqlParams,
  bucketColumn: string,
  unit: "minute" | "hour",
): string {
  let sql = "";
  if (filters.from)
    sql += ` AND ${bucketColumn} >= date_trunc('${unit}', ${params.add(filters.from)}::timestamptz)`;
  if (filters.to) sql += ` AND ${bucketColumn} < ${params.add(filters.to)}::timestamptz`;
  return sql;
}

/** Whether a selection has a time window (and so must read per-minute rollups, not all-time totals). */
export function hasWindow(filters: Pick<CoverageFilters, "from" | "to">): boolean {
  return filters.from !== undefined || filters.to !== undefined;
}

/** SQL condition on a `"statusClass"` column for hits that count under the outcome. */
export function outcomeCondition(outcome: CoverageFilters["outcome"], statusColumn: string): string {
  return outcome === "2xx" ? `${statusColumn} = '2xx'` : "TRUE";
}

/** Whether any source filter is set. */
export function hasSourceFilter(filters: SourceFilters): boolean {
  return sourceConditions(filters, new SqlParams()) !== null;
}

/**
 * A SELECT of the hits per endpoint of a selection: columns "operationId", hits, hits2xx, sources (distinct
 * sources with hits that count under the outcome), "firstSeen" and "lastSeen" (of those hits). It reads
 * the cheapest table that answers: per-endpoint totals without source filters or window, per endpoint x
 * source totals with source filters only, per-minute rollups with a time window.
 */
export function endpointHitsSql(filters: CoverageFilters, params: SqlParams, releaseParam: string): string {
  const ok = filters.outcome === "2xx";
  if (hasWindow(filters)) {
    // Per endpoint x source first, then per endpoint: two hash aggregates instead of a sort for DISTINCT.
    const counted = outcomeCondition(filters.outcome, `h."statusClass"`);
    return `SELECT p."operationId", sum(p.hits)::float8 AS hits, sum(p.hits2xx)::float8 AS hits2xx,
              count(p.first)::int AS sources, min(p.first) AS "firstSeen", max(p.last) AS "lastSeen"
       FROM (
         SELECT h."operationId", h."sourceId", sum(h."count") AS hits,
                coalesce(sum(h."count") FILTER (WHERE h."statusClass" = '2xx'), 0) AS hits2xx,
                min(h."minute") FILTER (WHERE ${counted}) AS first, max(h."minute") FILTER (WHERE ${counted}) AS last
         FROM "HitRollup" h
         WHERE h."release" = ${releaseParam}${sourceRestriction(filters, params, `h."sourceId"`)}${windowRestriction(filters, params, `h."minute"`, "minute")}
         GROUP BY h."operationId", h."sourceId"
       ) p
       GROUP BY p."operationId"`;
  }
  if (hasSourceFilter(filters)) {
    return `SELECT h."operationId", sum(h."hits")::float8 AS hits, sum(h."hits2xx")::float8 AS hits2xx,
              count(*) FILTER (WHERE ${ok ? `h."hits2xx" > 0` : "TRUE"})::int AS sources,
              min(h."${ok ? "first2xx" : "firstSeen"}") AS "firstSeen", max(h."${ok ? "last2xx" : "lastSeen"}") AS "lastSeen"
       FROM "HitTotal" h
       WHERE h."release" = ${releaseParam}${sourceRestriction(filters, params, `h."sourceId"`)}
       GROUP BY h."operationId"`;
  }
  return `SELECT t."operationId", t."hits"::float8 AS hits, t."hits2xx"::float8 AS hits2xx,
            t."${ok ? "sources2xx" : "sources"}" AS sources,
            t."${ok ? "first2xx" : "firstSeen"}" AS "firstSeen", t."${ok ? "last2xx" : "lastSeen"}" AS "lastSeen"
     FROM "EndpointTotal" t WHERE t."release" = ${releaseParam}`;
}
