import { type CoverageFilters, type SourceFilters, sourceFiltersOf } from "./filters";
import { sourceFilterConditions } from "./source-match";

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
 * Conditions on `"Source"` (aliased `alias`) for the source filters, or null when there are none: the
 * SQL side of what each filter means (`source-match.ts`), which the live predicate shares.
 */
export function sourceConditions(filters: SourceFilters, params: SqlParams, alias = "s"): string | null {
  const conditions = sourceFilterConditions(
    filters,
    (name) => `${alias}."${name}"`,
    (value) => params.add(value),
  );
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
 * `select` (a SELECT over a rollup aliased `w`, given the condition that ties it to one source) for the
 * selected sources only: once per matching source through a LATERAL join, so each source's rows are read
 * by the index that starts with the source, whatever the planner guesses about a freshly filled table
 * (an `IN (subquery)` let it pick a hash join over the whole table). Without source filters, `select` as is.
 * `scope`, a condition on `"Source"` aliased `s`, narrows the sources further (e.g. workloads only).
 */
export function forSelectedSources(
  filters: SourceFilters,
  params: SqlParams,
  select: (sourceCondition: string) => string,
  scope?: string,
): string {
  const filtered = sourceConditions(filters, params);
  const conditions = scope ? (filtered ? `${filtered} AND ${scope}` : scope) : filtered;
  if (!conditions) return select("");
  return `SELECT x.* FROM (SELECT s."id" FROM "Source" s WHERE ${conditions}) s
     CROSS JOIN LATERAL (${select(` AND w."sourceId" = s."id"`)} OFFSET 0) x`;
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

const MINUTE_MS = 60_000;

/** A part of a time window answered by one rollup table: minutes [from, to) as epoch minutes, null = open. */
export interface WindowPart {
  table: "HitRollup" | "HitRollupHour" | "HitRollupDay";
  from: number | null;
  to: number | null;
}

/**
 * Splits the minutes a window covers (those overlapping [from, to)) into whole UTC days, whole hours at the
 * day edges and single minutes at the hour edges, so a window reads a few coarse buckets per endpoint x
 * source instead of every minute. The parts are disjoint and cover exactly the window's minutes.
 */
export function windowParts(filters: Pick<CoverageFilters, "from" | "to">): WindowPart[] {
  const start = filters.from ? Math.floor(filters.from.getTime() / MINUTE_MS) : null;
  const end = filters.to ? Math.ceil(filters.to.getTime() / MINUTE_MS) : null;
  const parts: WindowPart[] = [];
  const floor = (minute: number | null, unit: number) =>
    minute === null ? null : Math.floor(minute / unit) * unit;
  const ceil = (minute: number | null, unit: number) =>
    minute === null ? null : Math.ceil(minute / unit) * unit;
  /** Adds [from, to) of `table`, or, when it holds no whole `unit` bucket, hands it to `finer`. */
  const split = (
    from: number | null,
    to: number | null,
    unit: number,
    table: WindowPart["table"],
    finer: (from: number | null, to: number | null) => void,
  ) => {
    const wholeFrom = ceil(from, unit);
    const wholeTo = floor(to, unit);
    if (wholeFrom !== null && wholeTo !== null && wholeFrom >= wholeTo) {
      finer(from, to);
      return;
    }
    if (from !== null && wholeFrom !== null && from < wholeFrom) finer(from, wholeFrom);
    parts.push({ table, from: wholeFrom, to: wholeTo });
    if (to !== null && wholeTo !== null && wholeTo < to) finer(wholeTo, to);
  };
  const minutes = (from: number | null, to: number | null) => {
    if (from === null || to === null || from < to) parts.push({ table: "HitRollup", from, to });
  };
  const hours = (from: number | null, to: number | null) => split(from, to, 60, "HitRollupHour", minutes);
  split(start, end, 1440, "HitRollupDay", hours);
  return parts;
}

/**
 * A SELECT of the hits of a windowed selection per endpoint x source part of the window: columns
 * "operationId", "sourceId", hits, hits2xx, "firstSeen", "lastSeen", "first2xx", "last2xx" (minutes; the
 * 2xx ones null without 2xx hits). An endpoint x source may have one row per part: group them.
 */
export function windowHitsSql(
  filters: CoverageFilters,
  params: SqlParams,
  releaseParam: string,
  scope?: string,
  /** Read only this source's rows (an SQL expression for its id) instead of the filters' sources. */
  sourceId?: string,
): string {
  const time = (minute: number) => `${params.add(new Date(minute * MINUTE_MS))}::timestamptz`;
  return windowParts(filters)
    .map((part) => {
      const column = { HitRollup: "minute", HitRollupHour: "hour", HitRollupDay: "day" }[part.table];
      let where = `w."release" = ${releaseParam}`;
      if (part.from !== null) where += ` AND w."${column}" >= ${time(part.from)}`;
      if (part.to !== null) where += ` AND w."${column}" < ${time(part.to)}`;
      const selected = (select: (sourceCondition: string) => string) =>
        sourceId === undefined
          ? forSelectedSources(filters, params, select, scope)
          : select(` AND w."sourceId" = ${sourceId}`);
      return selected((sourceCondition) => {
        if (part.table === "HitRollup") {
          const ok = `w."statusClass" = '2xx'`;
          return `SELECT w."operationId", w."sourceId", w."count" AS hits, CASE WHEN ${ok} THEN w."count" ELSE 0 END AS hits2xx,
                    w."minute" AS "firstSeen", w."minute" AS "lastSeen",
                    CASE WHEN ${ok} THEN w."minute" END AS "first2xx", CASE WHEN ${ok} THEN w."minute" END AS "last2xx"
             FROM "HitRollup" w WHERE ${where}${sourceCondition}`;
        }
        return `SELECT w."operationId", w."sourceId", w."hits", w."hits2xx", w."firstSeen", w."lastSeen", w."first2xx", w."last2xx"
           FROM "${part.table}" w WHERE ${where}${sourceCondition}`;
      });
    })
    .join("\n       UNION ALL ");
}

/** The unit of the buckets in each part's table, as EndpointRollup and SourceRollup name it. */
const PART_UNIT = { HitRollup: "minute", HitRollupHour: "hour", HitRollupDay: "day" } as const;

/** `AND` conditions keeping a part's buckets in `column`. */
export function partRange(part: WindowPart, params: SqlParams, column: string): string {
  const time = (minute: number) => `${params.add(new Date(minute * MINUTE_MS))}::timestamptz`;
  let sql = "";
  if (part.from !== null) sql += ` AND ${column} >= ${time(part.from)}`;
  if (part.to !== null) sql += ` AND ${column} < ${time(part.to)}`;
  return sql;
}

/**
 * A SELECT of the hits per endpoint of a window over all sources, from the per-endpoint rollups: columns
 * "operationId", hits, hits2xx, one row per endpoint and part of the window (group them). A window then
 * reads about 900 rows a bucket, whatever the number of sources.
 */
export function endpointWindowSql(filters: CoverageFilters, params: SqlParams, releaseParam: string): string {
  return windowParts(filters)
    .map(
      (part) =>
        `SELECT r."operationId", r."hits", r."hits2xx" FROM "EndpointRollup" r
         WHERE r."release" = ${releaseParam} AND r."unit" = '${PART_UNIT[part.table]}'${partRange(part, params, `r."bucket"`)}`,
    )
    .join("\n       UNION ALL ");
}

/**
 * A SELECT of the hits and unknown calls per source of a windowed selection, from the per-source rollups:
 * columns "sourceId", hits, hits2xx, "unknownCalls", one row per source and part of the window (group
 * them). Source filters read only the selected sources' rows.
 */
export function sourceWindowSql(filters: CoverageFilters, params: SqlParams, releaseParam: string): string {
  return windowParts(filters)
    .map((part) => {
      const where = `w."release" = ${releaseParam} AND w."unit" = '${PART_UNIT[part.table]}'${partRange(part, params, `w."bucket"`)}`;
      return forSelectedSources(
        filters,
        params,
        (sourceCondition) =>
          `SELECT w."sourceId", w."hits", w."hits2xx", w."unknownCalls" FROM "SourceRollup" w WHERE ${where}${sourceCondition}`,
      );
    })
    .join("\n       UNION ALL ");
}

/** Whether `chart` is the selection's only source filter: its counts can come from ChartRollup. */
export function onlyChartFilter(filters: SourceFilters): boolean {
  const given = Object.keys(sourceFiltersOf(filters));
  return given.length === 1 && given[0] === "chart";
}

/**
 * A SELECT of the hits per endpoint of a selection narrowed by `chart` alone, from the per-chart rollups:
 * columns "operationId", hits, hits2xx, one row per endpoint, chart label and part of the window (group
 * them). The chart labels the filter matches are found among the sources (as the filter's SQL decides),
 * then each one's rows are read by the index that starts with it: a chart of many pods reads one row per
 * endpoint and bucket. Without a time window, its all-time rows.
 */
export function chartHitsSql(filters: CoverageFilters, params: SqlParams, releaseParam: string): string {
  const labels = `SELECT DISTINCT s."chart" FROM "Source" s WHERE ${sourceConditions({ chart: filters.chart }, params)}`;
  const parts: Array<{ unit: string; range: string }> = hasWindow(filters)
    ? windowParts(filters).map((part) => ({
        unit: PART_UNIT[part.table],
        range: partRange(part, params, `r."bucket"`),
      }))
    : [{ unit: "all", range: "" }];
  return parts
    .map(
      ({ unit, range }) => `SELECT x.* FROM (${labels}) c
       CROSS JOIN LATERAL (SELECT r."operationId", r."hits", r."hits2xx" FROM "ChartRollup" r
         WHERE r."release" = ${releaseParam} AND r."chart" = c."chart" AND r."unit" = '${unit}'${range} OFFSET 0) x`,
    )
    .join("\n       UNION ALL ");
}

/**
 * A SELECT of the hits per endpoint of a selection: columns "operationId", hits, hits2xx and, with
 * `detail`, sources (distinct sources with hits that count under the outcome), "firstSeen" and "lastSeen"
 * (of those hits). It reads the cheapest tables that answer: per-endpoint totals without source filters or
 * window, per endpoint x source totals with source filters only, day, hour and edge-minute rollups with a
 * time window; counts alone narrowed by `chart` alone, the per-chart rollups.
 */
export function endpointHitsSql(
  filters: CoverageFilters,
  params: SqlParams,
  releaseParam: string,
  detail = true,
): string {
  const ok = filters.outcome === "2xx";
  const counts = (from: string) =>
    `${from}."operationId", sum(${from}.hits)::float8 AS hits, sum(${from}.hits2xx)::float8 AS hits2xx`;
  if (!detail && onlyChartFilter(filters)) {
    // A chart's counts: the per-chart rollups, never a row per pod.
    return `SELECT ${counts("w")} FROM (${chartHitsSql(filters, params, releaseParam)}) w
       GROUP BY w."operationId"`;
  }
  if (hasWindow(filters) && !detail && !hasSourceFilter(filters)) {
    // Counts over all sources: the per-endpoint rollups, never a row per source.
    return `SELECT ${counts("w")} FROM (${endpointWindowSql(filters, params, releaseParam)}) w
       GROUP BY w."operationId"`;
  }
  if (hasWindow(filters)) {
    // One aggregate per endpoint: a source has hits that count when any of its parts has a first minute.
    const [first, last] = ok ? ["first2xx", "last2xx"] : ["firstSeen", "lastSeen"];
    const who = `, count(DISTINCT w."sourceId") FILTER (WHERE w."${first}" IS NOT NULL)::int AS sources,
              min(w."${first}") AS "firstSeen", max(w."${last}") AS "lastSeen"`;
    return `SELECT ${counts("w")}${detail ? who : ""}
       FROM (${windowHitsSql(filters, params, releaseParam)}) w
       GROUP BY w."operationId"`;
  }
  if (hasSourceFilter(filters)) {
    const totals = forSelectedSources(
      filters,
      params,
      (sourceCondition) =>
        `SELECT w.* FROM "HitTotal" w WHERE w."release" = ${releaseParam}${sourceCondition}`,
    );
    const who = `, count(*) FILTER (WHERE ${ok ? `h."hits2xx" > 0` : "TRUE"})::int AS sources,
              min(h."${ok ? "first2xx" : "firstSeen"}") AS "firstSeen", max(h."${ok ? "last2xx" : "lastSeen"}") AS "lastSeen"`;
    return `SELECT ${counts("h")}${detail ? who : ""}
       FROM (${totals}) h
       GROUP BY h."operationId"`;
  }
  const who = `, t."${ok ? "sources2xx" : "sources"}" AS sources,
            t."${ok ? "first2xx" : "firstSeen"}" AS "firstSeen", t."${ok ? "last2xx" : "lastSeen"}" AS "lastSeen"`;
  return `SELECT t."operationId", t."hits"::float8 AS hits, t."hits2xx"::float8 AS hits2xx${detail ? who : ""}
     FROM "EndpointTotal" t WHERE t."release" = ${releaseParam}`;
}

/**
 * A SELECT of the hits per endpoint x source of a selection, `scope` (a condition on `"Source"` aliased
 * `s`) narrowing its sources: columns "operationId", "sourceId", hits, hits2xx. All-time per-source totals
 * without a time window; day, hour and edge-minute rollups with one.
 */
export function endpointSourceHitsSql(
  filters: CoverageFilters,
  params: SqlParams,
  releaseParam: string,
  scope?: string,
): string {
  if (hasWindow(filters)) {
    return `SELECT w."operationId", w."sourceId", sum(w.hits)::float8 AS hits, sum(w.hits2xx)::float8 AS hits2xx
       FROM (${windowHitsSql(filters, params, releaseParam, scope)}) w
       GROUP BY w."operationId", w."sourceId"`;
  }
  return forSelectedSources(
    filters,
    params,
    (sourceCondition) =>
      `SELECT w."operationId", w."sourceId", w."hits"::float8 AS hits, w."hits2xx"::float8 AS hits2xx
       FROM "HitTotal" w WHERE w."release" = ${releaseParam}${sourceCondition}`,
    scope,
  );
}

/**
 * A SELECT of one endpoint's hits per source in a selection, from the coarsest rollups that answer it:
 * all-time totals without a time window; with one, whole days, whole hours and only the edge minutes.
 * Columns "sourceId", hits, hits2xx, "firstSeen", "lastSeen", "first2xx", "last2xx" and the JSON counts
 * "otherStatusClasses" (hits by status class other than 2xx) and "details": one row per source and part
 * of the window (per minute row at its edges): group them.
 */
export function endpointSourcesSql(
  filters: CoverageFilters,
  params: SqlParams,
  releaseParam: string,
  operationParam: string,
): string {
  const selected = (column: string) => sourceRestriction(filters, params, column);
  const columns = `w."sourceId", w."hits", w."hits2xx", w."firstSeen", w."lastSeen", w."first2xx", w."last2xx",
                   w."otherStatusClasses", w."details"`;
  if (!hasWindow(filters)) {
    return `SELECT ${columns} FROM "HitTotal" w
       WHERE w."release" = ${releaseParam} AND w."operationId" = ${operationParam}${selected(`w."sourceId"`)}`;
  }
  return windowParts(filters)
    .map((part) => {
      if (part.table === "HitRollup") {
        const ok = `w."statusClass" = '2xx'`;
        return `SELECT w."sourceId", w."count" AS hits, CASE WHEN ${ok} THEN w."count" ELSE 0 END AS hits2xx,
                  w."minute" AS "firstSeen", w."minute" AS "lastSeen",
                  CASE WHEN ${ok} THEN w."minute" END AS "first2xx", CASE WHEN ${ok} THEN w."minute" END AS "last2xx",
                  CASE WHEN ${ok} THEN '{}'::jsonb ELSE jsonb_build_object(w."statusClass", w."count") END AS "otherStatusClasses",
                  w."details"
           FROM "HitRollup" w
           WHERE w."release" = ${releaseParam} AND w."operationId" = ${operationParam}${partRange(part, params, `w."minute"`)}${selected(`w."sourceId"`)}`;
      }
      const column = part.table === "HitRollupHour" ? "hour" : "day";
      return `SELECT ${columns} FROM "${part.table}" w
         WHERE w."release" = ${releaseParam} AND w."operationId" = ${operationParam}${partRange(part, params, `w."${column}"`)}${selected(`w."sourceId"`)}`;
    })
    .join("\n       UNION ALL ");
}

/**
 * A SELECT of the unknown calls of a selection per source, method, path, reason and status class, from
 * the coarsest rollups that answer it: all-time totals without a time window; with one, whole days, whole
 * hours and only the edge minutes. Columns "sourceId", "method", "path", "reason", "statusClass", "count",
 * "firstSeen", "lastSeen": one row per part of the window (per minute at its edges): group them.
 */
export function unknownCallsSql(filters: CoverageFilters, params: SqlParams, releaseParam: string): string {
  const selected = () => sourceRestriction(filters, params, `u."sourceId"`);
  const key = `u."sourceId", u."method", u."path", u."reason", u."statusClass"`;
  if (!hasWindow(filters)) {
    return `SELECT ${key}, u."count", u."firstSeen", u."lastSeen" FROM "UnknownCallTotal" u
       WHERE u."release" = ${releaseParam}${selected()}`;
  }
  return windowParts(filters)
    .map((part) => {
      if (part.table === "HitRollup") {
        return `SELECT ${key}, u."count", u."minute" AS "firstSeen", u."minute" AS "lastSeen" FROM "UnknownCall" u
           WHERE u."release" = ${releaseParam}${partRange(part, params, `u."minute"`)}${selected()}`;
      }
      return `SELECT ${key}, u."count", u."firstSeen", u."lastSeen" FROM "UnknownCallRollup" u
         WHERE u."release" = ${releaseParam} AND u."unit" = '${PART_UNIT[part.table]}'${partRange(part, params, `u."bucket"`)}${selected()}`;
    })
    .join("\n       UNION ALL ");
}
