import type { PrismaClient } from "./client";
import { narrowWindow } from "./data-window";
import type { CoverageFilters } from "./filters";
import { resolveRelease } from "./releases";
import {
  hasWindow,
  SqlParams,
  sourceRestriction,
  sourceWindowSql,
  unknownCallsSql,
  windowRestriction,
} from "./selection-sql";
import { type SourceSummary, sourcesById } from "./sources";

/** Calls with one method and example path that matched nothing in the release's spec, for one reason. */
export interface UnknownCallSummary {
  method: string;
  path: string;
  /** "no such path", "method not allowed", "group not served by this spec", ... */
  reason: string;
  count: number;
  /** Calls by status class. */
  statusClasses: Record<string, number>;
  /** Ids of the sources that made them (see `sources`). */
  sourceIds: number[];
  firstSeen: Date;
  lastSeen: Date;
}

/** Uses of a field path that the endpoint's schema does not have. */
export interface UnknownFieldSummary {
  operationId: string;
  direction: "request" | "response";
  field: string;
  count: number;
  sourceIds: number[];
}

/** Unknown calls and unknown fields of a selection, and the sources behind them. */
export interface UnknownReport {
  release: string;
  calls: UnknownCallSummary[];
  fields: UnknownFieldSummary[];
  /** Every source named in `calls` and `fields`, by id. */
  sources: SourceSummary[];
}

/**
 * How many unknown calls (GUIDE §3) the sources of `filters` made in its release and time window: the one
 * figure a coverage view shows of them, without listing them. Calls to the paths every apiserver serves
 * outside its spec (`/openapi/v3`, `/healthz`, …) are not unknown and are not counted.
 */
export async function countUnknownCalls(prisma: PrismaClient, asked: CoverageFilters): Promise<number> {
  const [release, filters] = await Promise.all([
    resolveRelease(prisma, asked.release),
    narrowWindow(prisma, asked),
  ]);
  const params = new SqlParams();
  const releaseParam = params.add(release);
  // Kept per source at ingest, all-time and per minute, hour and day (the apiserver's own paths left out):
  // a few rows per source, never one per call.
  const [row] = await prisma.$queryRawUnsafe<Array<{ count: number }>>(
    hasWindow(filters)
      ? `SELECT coalesce(sum(w."unknownCalls"), 0)::float8 AS count
         FROM (${sourceWindowSql(filters, params, releaseParam)}) w`
      : `SELECT coalesce(sum(t."unknownCalls"), 0)::float8 AS count
         FROM "SourceTotal" t WHERE t."release" = ${releaseParam}${sourceRestriction(filters, params, `t."sourceId"`)}`,
    ...params.values,
  );
  return row?.count ?? 0;
}

/**
 * Unknown calls (with the calls to the apiserver's paths outside its spec, reason
 * `UNMATCHED_REASONS.outsideSpec`, for views to show apart) and unknown fields (GUIDE §3) of a release (default: the default release) by the sources
 * and in the time window of `filters`, most frequent first, with the sources that made them. `outcome`
 * and `level` do not apply.
 */
export async function getUnknown(prisma: PrismaClient, asked: CoverageFilters): Promise<UnknownReport> {
  const [release, filters] = await Promise.all([
    resolveRelease(prisma, asked.release),
    narrowWindow(prisma, asked),
  ]);
  const callParams = new SqlParams();
  // Both queries at once: a view waits for one round trip, not two. Each reads the coarsest rows that
  // answer the window (all-time totals without one), never every minute or hour kept.
  const callQuery = prisma.$queryRawUnsafe<
    Array<{
      method: string;
      path: string;
      reason: string;
      statusClass: string;
      count: number;
      sourceIds: number[];
      firstSeen: Date;
      lastSeen: Date;
    }>
  >(
    `SELECT u."method", u."path", u."reason", u."statusClass", sum(u."count")::float8 AS count,
            array_agg(DISTINCT u."sourceId") AS "sourceIds", min(u."firstSeen") AS "firstSeen", max(u."lastSeen") AS "lastSeen"
     FROM (${unknownCallsSql(filters, callParams, callParams.add(release))}) u
     GROUP BY u."method", u."path", u."reason", u."statusClass"`,
    ...callParams.values,
  );
  const fieldParams = new SqlParams();
  const fieldWhere = `f."release" = ${fieldParams.add(release)} AND f."unknown"${sourceRestriction(filters, fieldParams, `f."sourceId"`)}`;
  const fieldQuery = prisma.$queryRawUnsafe<UnknownFieldSummary[]>(
    `SELECT f."operationId", f."direction", f."field", sum(f."count")::float8 AS count,
            array_agg(DISTINCT f."sourceId" ORDER BY f."sourceId") AS "sourceIds"
     FROM ${
       hasWindow(filters)
         ? `"FieldCount" f WHERE ${fieldWhere}${windowRestriction(filters, fieldParams, `f."hour"`, "hour")}`
         : `"FieldTotal" f WHERE ${fieldWhere}`
     }
     GROUP BY f."operationId", f."direction", f."field"
     ORDER BY count DESC, f."operationId", f."direction", f."field"`,
    ...fieldParams.values,
  );

  const [callRows, fields] = await Promise.all([callQuery, fieldQuery]);
  const calls = new Map<string, UnknownCallSummary>();
  for (const row of callRows) {
    const key = `${row.method}\u0000${row.path}\u0000${row.reason}`;
    const call = calls.get(key) ?? {
      method: row.method,
      path: row.path,
      reason: row.reason,
      count: 0,
      statusClasses: {},
      sourceIds: [],
      firstSeen: row.firstSeen,
      lastSeen: row.lastSeen,
    };
    call.count += row.count;
    call.statusClasses[row.statusClass] = (call.statusClasses[row.statusClass] ?? 0) + row.count;
    call.sourceIds = [...new Set([...call.sourceIds, ...row.sourceIds])].sort((a, b) => a - b);
    if (row.firstSeen < call.firstSeen) call.firstSeen = row.firstSeen;
    if (row.lastSeen > call.lastSeen) call.lastSeen = row.lastSeen;
    calls.set(key, call);
  }

  const byFrequency = [...calls.values()].sort(
    (a, b) => b.count - a.count || a.path.localeCompare(b.path) || a.method.localeCompare(b.method),
  );
  const ids = [...byFrequency, ...fields].flatMap((row) => row.sourceIds);
  const sources = [...(await sourcesById(prisma, ids)).values()].sort((a, b) => a.id - b.id);
  return { release, calls: byFrequency, fields, sources };
}
