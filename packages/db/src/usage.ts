import type { PrismaClient } from "./client";
import { narrowWindow } from "./data-window";
import type { CoverageFilters } from "./filters";
import { resolveRelease } from "./releases";
import { hasWindow, SqlParams, sourceRestriction, windowHitsSql } from "./selection-sql";

/** A source that called an operation, as a report names it. */
export interface Caller {
  userAgent: string;
  name: string | null;
  e2eTest: string | null;
  conformance: boolean;
  namespace: string | null;
  pod: string | null;
  serviceAccount: string | null;
  chart: string | null;
  hits: number;
  /** Start of the last minute in which it called, under the outcome. */
  lastSeen: Date;
}

/** One operation the selection called, with its callers (most hits first, at most `maxCallers`). */
export interface OperationUsage {
  operationId: string;
  hits: number;
  /** Start of the last minute in which any caller called it, under the outcome. */
  lastSeen: Date;
  callers: Caller[];
}

/**
 * What the selection of `filters` called in a release, operation by operation: every matched operation,
 * the deprecated `/watch/` ones included (unlike coverage, a deprecation report needs them), with the
 * sources that called each. Hits count under the outcome of `filters`.
 */
export async function getUsage(
  prisma: PrismaClient,
  filters: CoverageFilters,
  maxCallers = 10,
): Promise<{ release: string; operations: OperationUsage[] }> {
  const [release, selection] = await Promise.all([
    resolveRelease(prisma, filters.release),
    narrowWindow(prisma, filters),
  ]);
  const params = new SqlParams();
  const releaseParam = params.add(release);
  // Rows per endpoint x source with hits and 2xx hits side by side: a window's day and hour rollups and
  // edge minutes, or the all-time totals.
  const rows = hasWindow(selection)
    ? windowHitsSql(selection, params, releaseParam)
    : `SELECT t.* FROM "HitTotal" t WHERE t."release" = ${releaseParam}${sourceRestriction(selection, params, `t."sourceId"`)}`;
  const ok = filters.outcome === "2xx";
  const found = await prisma.$queryRawUnsafe<
    (Omit<Caller, "hits"> & { operationId: string; hits: number })[]
  >(
    `SELECT h."operationId", sum(h."${ok ? "hits2xx" : "hits"}")::float8 AS hits, max(h."${ok ? "last2xx" : "lastSeen"}") AS "lastSeen", s."userAgent", s."name", s."e2eTest", s."conformance", s."namespace",
            s."pod", s."serviceAccount", s."chart"
     FROM (${rows}) h JOIN "Source" s ON s."id" = h."sourceId"
     WHERE ${ok ? `h."hits2xx" > 0` : "TRUE"}
     GROUP BY h."operationId", s."id"
     ORDER BY h."operationId", hits DESC`,
    ...params.values,
  );
  const operations = new Map<string, OperationUsage>();
  for (const { operationId, ...caller } of found) {
    let usage = operations.get(operationId);
    if (!usage) {
      usage = { operationId, hits: 0, lastSeen: caller.lastSeen, callers: [] };
      operations.set(operationId, usage);
    }
    usage.hits += caller.hits;
    if (caller.lastSeen > usage.lastSeen) usage.lastSeen = caller.lastSeen;
    if (usage.callers.length < maxCallers) usage.callers.push(caller);
  }
  return { release, operations: [...operations.values()] };
}
