import type { PrismaClient } from "./client";
import type { CoverageFilters } from "./filters";
import { resolveRelease } from "./releases";
import {
  hasWindow,
  outcomeCondition,
  SqlParams,
  sourceRestriction,
  windowRestriction,
} from "./selection-sql";

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
}

/** One operation the selection called, with its callers (most hits first, at most `maxCallers`). */
export interface OperationUsage {
  operationId: string;
  hits: number;
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
  const release = await resolveRelease(prisma, filters.release);
  const params = new SqlParams();
  const windowed = hasWindow(filters);
  // Per-minute rollups carry a status class; all-time totals carry hits and 2xx hits side by side.
  const counted = windowed
    ? outcomeCondition(filters.outcome, `h."statusClass"`)
    : filters.outcome === "2xx"
      ? `h."hits2xx" > 0`
      : "TRUE";
  const hits = windowed ? `h."count"` : filters.outcome === "2xx" ? `h."hits2xx"` : `h."hits"`;
  const where =
    `h."release" = ${params.add(release)} AND ${counted}` +
    sourceRestriction(filters, params, `h."sourceId"`) +
    (windowed ? windowRestriction(filters, params, `h."minute"`, "minute") : "");
  const rows = await prisma.$queryRawUnsafe<(Omit<Caller, "hits"> & { operationId: string; hits: number })[]>(
    `SELECT h."operationId", sum(${hits})::float8 AS hits, s."userAgent", s."name", s."e2eTest", s."conformance", s."namespace",
            s."pod", s."serviceAccount", s."chart"
     FROM ${windowed ? `"HitRollup"` : `"HitTotal"`} h JOIN "Source" s ON s."id" = h."sourceId"
     WHERE ${where}
     GROUP BY h."operationId", s."id"
     ORDER BY h."operationId", hits DESC`,
    ...params.values,
  );
  const operations = new Map<string, OperationUsage>();
  for (const { operationId, ...caller } of rows) {
    let usage = operations.get(operationId);
    if (!usage) {
      usage = { operationId, hits: 0, callers: [] };
      operations.set(operationId, usage);
    }
    usage.hits += caller.hits;
    if (usage.callers.length < maxCallers) usage.callers.push(caller);
  }
  return { release, operations: [...operations.values()] };
}
