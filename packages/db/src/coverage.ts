import type { Endpoint } from "@apisnoop/openapi";
import type { PrismaClient } from "./client";
import { type CoverageFilters, LEVELS, type Level, type Outcome } from "./filters";
import { resolveRelease } from "./releases";
import { endpointHitsSql, SqlParams } from "./selection-sql";

/** One endpoint of a release with the hits of the selection. */
export interface EndpointCoverage
  extends Pick<
    Endpoint,
    | "operationId"
    | "method"
    | "path"
    | "level"
    | "category"
    | "group"
    | "version"
    | "kind"
    | "action"
    | "description"
    | "deprecated"
  > {
  conformanceEligible: boolean;
  /** Hits with any response. */
  hits: number;
  /** Hits with a 2xx response. */
  hits2xx: number;
  /** Distinct sources with hits that count under the outcome. */
  sources: number;
  /** Hit under the outcome: the endpoint is covered. */
  tested: boolean;
  /** Start of the first and last minute with hits that count under the outcome. */
  firstSeen: Date | null;
  lastSeen: Date | null;
}

/** Endpoints and how many of them are tested, with their hits. */
export interface CoverageTotal {
  endpoints: number;
  tested: number;
  hits: number;
}

/** Coverage of a release by a selection of sources, time window and outcome. */
export interface Coverage {
  release: string;
  outcome: Outcome;
  /** The release's endpoints (of `level`, when filtered), by level, category and operationId. */
  endpoints: EndpointCoverage[];
  totals: {
    all: CoverageTotal;
    byLevel: Record<Level, CoverageTotal>;
    /** Stable, not deprecated, not ineligible endpoints (GUIDE §3). */
    conformanceEligible: CoverageTotal;
  };
}

interface Row extends Omit<EndpointCoverage, "tested" | "level"> {
  level: string;
}

/**
 * Coverage of a release (default: the default release) by the sources, time window and outcome of
 * `filters`: every endpoint with its hits, and totals by level and for conformance-eligible endpoints.
 * Without a time window it reads all-time totals (per endpoint without source filters), so the
 * dashboard's first view never scans per-source or per-minute rows. Deprecated `/watch/` operations are outside every count (GUIDE §3).
 */
export async function getCoverage(prisma: PrismaClient, filters: CoverageFilters): Promise<Coverage> {
  const release = await resolveRelease(prisma, filters.release);
  const params = new SqlParams();
  const releaseParam = params.add(release);
  const hits = endpointHitsSql(filters, params, releaseParam);
  const level = filters.level ? ` AND e."level" = ${params.add(filters.level)}` : "";
  const rows = await prisma.$queryRawUnsafe<Row[]>(
    `WITH hits AS (${hits})
     SELECT e."operationId", e."method", e."path", e."level", e."category", e."group", e."version", e."kind",
            e."action", e."description", e."deprecated", e."conformanceEligible",
            coalesce(hits.hits, 0) AS hits, coalesce(hits.hits2xx, 0) AS hits2xx,
            coalesce(hits.sources, 0) AS sources, hits."firstSeen", hits."lastSeen"
     FROM "Endpoint" e LEFT JOIN hits ON hits."operationId" = e."operationId"
     WHERE e."release" = ${releaseParam} AND NOT e."watchOperation"${level}
     ORDER BY array_position(ARRAY['stable', 'beta', 'alpha'], e."level"), e."category", e."operationId"`,
    ...params.values,
  );
  const endpoints = rows.map(
    (row): EndpointCoverage => ({
      ...row,
      level: row.level as Level,
      tested: (filters.outcome === "2xx" ? row.hits2xx : row.hits) > 0,
    }),
  );
  return { release, outcome: filters.outcome, endpoints, totals: coverageTotals(endpoints) };
}

/** Totals of a list of endpoint coverages: all, by level, and conformance-eligible. */
export function coverageTotals(endpoints: readonly EndpointCoverage[]): Coverage["totals"] {
  const empty = (): CoverageTotal => ({ endpoints: 0, tested: 0, hits: 0 });
  const totals = {
    all: empty(),
    byLevel: Object.fromEntries(LEVELS.map((level) => [level, empty()])) as Record<Level, CoverageTotal>,
    conformanceEligible: empty(),
  };
  const add = (total: CoverageTotal, endpoint: EndpointCoverage) => {
    total.endpoints++;
    if (endpoint.tested) total.tested++;
    total.hits += endpoint.hits;
  };
  for (const endpoint of endpoints) {
    add(totals.all, endpoint);
    add(totals.byLevel[endpoint.level], endpoint);
    if (endpoint.conformanceEligible) add(totals.conformanceEligible, endpoint);
  }
  return totals;
}
