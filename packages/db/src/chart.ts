import type { PrismaClient } from "./client";
import { type Coverage, coverageTotals, type EndpointCoverage, getCoverage } from "./coverage";
import { narrowWindow } from "./data-window";
import type { CoverageFilters } from "./filters";
import { hasWindow, SqlParams, sourceRestriction, windowHitsSql, windowRestriction } from "./selection-sql";
import { listSources, type SourceActivity } from "./sources";
import { getUnknown, type UnknownReport } from "./unknown";

/** Hits on operations outside the release's coverage: deprecated `/watch/` ones, or ones its spec lacks. */
export interface OtherOperationUse {
  operationId: string;
  hits: number;
  /** A deprecated `/watch/` operation of the release; otherwise the release's spec has no such operation. */
  watchOperation: boolean;
}

/** Field paths used in the bodies of one schema definition (`io.k8s.api.core.v1.Pod`). */
export interface DefinitionFieldUse {
  definition: string;
  /** Distinct field paths used. */
  fields: number;
  /** Of which not in the schema. */
  unknownFields: number;
  uses: number;
}

/** One pod of the chart and what it hit. */
export interface ChartPod {
  namespace: string | null;
  pod: string | null;
  hits: number;
  /** Distinct endpoints with hits that count under the outcome. */
  endpoints: number;
}

/** What a Helm chart's pods used: the chart drill-down. */
export interface ChartReport {
  chart: string;
  release: string;
  outcome: CoverageFilters["outcome"];
  /** The chart's sources with their hits. */
  sources: SourceActivity[];
  /** Endpoints of the release the chart's pods hit (with any response), by level, category and operationId. */
  endpoints: EndpointCoverage[];
  /** Totals over `endpoints`: how many the chart uses per level, and how many are tested under the outcome. */
  totals: Coverage["totals"];
  /** Used endpoints that the spec marks deprecated. */
  deprecated: EndpointCoverage[];
  /** Hits on deprecated watch operations or operations the release lacks, most hits first. */
  otherOperations: OtherOperationUse[];
  unknownCalls: UnknownReport["calls"];
  unknownFields: UnknownReport["fields"];
  /** Field paths used per schema definition, by definition. */
  fieldsByDefinition: DefinitionFieldUse[];
  /** Per-pod breakdown, most hits first. */
  pods: ChartPod[];
}

/**
 * The chart drill-down: what the sources of Helm chart `chart` (any version, or `name-version` for one)
 * used in the release, time window and outcome of `filters` (whose own source filters narrow further).
 */
export async function getChart(
  prisma: PrismaClient,
  chart: string,
  filters: CoverageFilters,
): Promise<ChartReport> {
  const selection: CoverageFilters = await narrowWindow(prisma, { ...filters, chart, level: undefined });
  const coverage = await getCoverage(prisma, selection);
  const release = coverage.release;
  const scoped: CoverageFilters = { ...selection, release };
  const [sources, unknown, otherOperations, fieldsByDefinition, pods] = await Promise.all([
    listSources(prisma, scoped),
    getUnknown(prisma, scoped),
    otherOperationUses(prisma, scoped),
    definitionFieldUses(prisma, scoped),
    chartPods(prisma, scoped),
  ]);
  const used = coverage.endpoints.filter((endpoint) => endpoint.hits > 0);
  const endpoints = filters.level ? used.filter((endpoint) => endpoint.level === filters.level) : used;
  return {
    chart,
    release,
    outcome: filters.outcome,
    sources,
    endpoints,
    totals: coverageTotals(endpoints),
    deprecated: endpoints.filter((endpoint) => endpoint.deprecated),
    otherOperations,
    unknownCalls: unknown.calls,
    unknownFields: unknown.fields,
    fieldsByDefinition,
    pods,
  };
}

async function chartPods(prisma: PrismaClient, filters: CoverageFilters): Promise<ChartPod[]> {
  const params = new SqlParams();
  const releaseParam = params.add(filters.release);
  const counted = filters.outcome === "2xx" ? `h."hits2xx" > 0` : "TRUE";
  // A window reads day and hour rollups and its edge minutes (already narrowed to the selected sources);
  // without one, the all-time totals of the selected sources.
  const rows = hasWindow(filters)
    ? windowHitsSql(filters, params, releaseParam)
    : `SELECT t.* FROM "HitTotal" t WHERE t."release" = ${releaseParam}${sourceRestriction(filters, params, `t."sourceId"`)}`;
  return prisma.$queryRawUnsafe<ChartPod[]>(
    `SELECT s."namespace", s."pod", sum(h."hits")::float8 AS hits,
            count(DISTINCT h."operationId") FILTER (WHERE ${counted})::int AS endpoints
     FROM (${rows}) h JOIN "Source" s ON s."id" = h."sourceId"
     GROUP BY s."namespace", s."pod" ORDER BY hits DESC, s."namespace", s."pod"`,
    ...params.values,
  );
}

async function otherOperationUses(
  prisma: PrismaClient,
  filters: CoverageFilters,
): Promise<OtherOperationUse[]> {
  const params = new SqlParams();
  const releaseParam = params.add(filters.release);
  const rows = hasWindow(filters)
    ? windowHitsSql(filters, params, releaseParam)
    : `SELECT t.* FROM "HitTotal" t WHERE t."release" = ${releaseParam}${sourceRestriction(filters, params, `t."sourceId"`)}`;
  return prisma.$queryRawUnsafe<OtherOperationUse[]>(
    `SELECT h."operationId", sum(h."hits")::float8 AS hits,
            coalesce(bool_or(e."watchOperation"), false) AS "watchOperation"
     FROM (${rows}) h
     LEFT JOIN "Endpoint" e ON e."release" = ${releaseParam} AND e."operationId" = h."operationId"
     WHERE e."operationId" IS NULL OR e."watchOperation"
     GROUP BY h."operationId" ORDER BY hits DESC, h."operationId"`,
    ...params.values,
  );
}

async function definitionFieldUses(
  prisma: PrismaClient,
  filters: CoverageFilters,
): Promise<DefinitionFieldUse[]> {
  const params = new SqlParams();
  return prisma.$queryRawUnsafe<DefinitionFieldUse[]>(
    `SELECT split_part(f."field", ':', 1) AS definition, count(DISTINCT f."field")::int AS fields,
            count(DISTINCT f."field") FILTER (WHERE f."unknown")::int AS "unknownFields", sum(f."count")::float8 AS uses
     FROM "FieldCount" f
     WHERE f."release" = ${params.add(filters.release)}${sourceRestriction(filters, params, `f."sourceId"`)}${windowRestriction(filters, params, `f."hour"`, "hour")}
     GROUP BY 1 ORDER BY 1`,
    ...params.values,
  );
}
