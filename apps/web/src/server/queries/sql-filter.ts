import type { DashboardFilters } from "../../data/dashboard-data";

/** Positional parameters of one raw statement: `add(value)` returns its placeholder (`$1`, `$2`, ...). */
export class SqlParams {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * SQL conditions on the `"Source"` row aliased `s` for the source filters, with the semantics of
 * `sourceMatches` (chart with or without version, user-agent prefix, e2e-test substring). Empty when no
 * source filter is set.
 */
export function sourceConditions(filters: DashboardFilters, params: SqlParams, alias = "s"): string[] {
  const conditions: string[] = [];
  if (filters.chart) {
    const chart = params.add(filters.chart);
    conditions.push(
      `(${alias}."chart" = ${chart} OR (left(${alias}."chart", length(${chart}) + 1) = ${chart} || '-'` +
        ` AND substr(${alias}."chart", length(${chart}) + 2) ~ '^v?[0-9]'))`,
    );
  }
  if (filters.namespace) conditions.push(`${alias}."namespace" = ${params.add(filters.namespace)}`);
  if (filters.pod) conditions.push(`${alias}."pod" = ${params.add(filters.pod)}`);
  if (filters.serviceAccount)
    conditions.push(`${alias}."serviceAccount" = ${params.add(filters.serviceAccount)}`);
  if (filters.userAgent) {
    const agent = params.add(filters.userAgent);
    conditions.push(`left(${alias}."userAgent", length(${agent})) = ${agent}`);
  }
  if (filters.e2eTest) conditions.push(`strpos(${alias}."e2eTest", ${params.add(filters.e2eTest)}) > 0`);
  return conditions;
}

/**
 * Where hits come from under the filters: the all-time totals when there is no time window (one row per
 * endpoint x source x status), else the per-minute rollups inside the window. Yields a FROM-able subquery
 * with columns operationId, sourceId, statusClass, count, firstSeen, lastSeen for one release.
 */
export function hitsSource(filters: DashboardFilters, release: string, params: SqlParams, now: Date): string {
  const releaseParam = params.add(release);
  const outcome = filters.outcome === "2xx" ? ` AND "statusClass" = '2xx'` : "";
  if (filters.windowMinutes === null) {
    return `(SELECT "operationId", "sourceId", "statusClass", "count", "firstSeen", "lastSeen"
             FROM "HitTotal" WHERE "release" = ${releaseParam}${outcome})`;
  }
  const since = params.add(new Date(now.getTime() - filters.windowMinutes * 60_000));
  return `(SELECT "operationId", "sourceId", "statusClass", "count", "minute" AS "firstSeen",
                  "minute" + interval '1 minute' AS "lastSeen"
           FROM "HitRollup" WHERE "release" = ${releaseParam} AND "minute" >= ${since}${outcome})`;
}

/** `AND ...` of conditions, or nothing. */
export function and(conditions: readonly string[]): string {
  return conditions.length === 0 ? "" : ` AND ${conditions.join(" AND ")}`;
}
