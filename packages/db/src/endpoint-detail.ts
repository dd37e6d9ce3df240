import type { Endpoint } from "@apisnoop/openapi";
import { UPSTREAM_E2E } from "@apisnoop/protocol";
import type { PrismaClient } from "./client";
import type { EndpointSpec } from "./coverage";
import { narrowWindow } from "./data-window";
import { NotFoundError } from "./errors";
import type { CoverageFilters } from "./filters";
import { resolveRelease } from "./releases";
import {
  endpointSourcesSql,
  hasWindow,
  SqlParams,
  sourceRestriction,
  windowRestriction,
} from "./selection-sql";
import { type SourceSummary, sourcesById } from "./sources";

/** An endpoint as its release's spec describes it. */
export interface EndpointInfo extends EndpointSpec, Pick<Endpoint, "watchOperation"> {
  ineligibleReason: string | null;
}

/** One source's hits on the endpoint. */
export interface EndpointSource extends SourceSummary {
  hits: number;
  hits2xx: number;
  firstHit: Date;
  lastHit: Date;
}

/** One e2e test's hits on the endpoint (GUIDE §3 attribution). */
export interface EndpointE2eTest {
  name: string;
  conformance: boolean;
  hits: number;
  hits2xx: number;
}

/** Uses of one field path of the endpoint's request or response bodies. */
export interface EndpointField {
  direction: "request" | "response";
  field: string;
  /** Not in the schema. */
  unknown: boolean;
  count: number;
  sources: number;
}

/** Who hit an endpoint, how, and which fields they used, in a selection. */
export interface EndpointDetail {
  release: string;
  operationId: string;
  /** The endpoint in the release's spec; null when hits name an operation the spec does not have. */
  endpoint: EndpointInfo | null;
  hits: number;
  hits2xx: number;
  /** Hit under the outcome of the filters. */
  tested: boolean;
  firstSeen: Date | null;
  lastSeen: Date | null;
  /** Hits by status class ("2xx", "4xx", ...). */
  statusClasses: Record<string, number>;
  /** Hits by detail ("watch", "dryRun", "patch:<type>", ...). */
  details: Record<string, number>;
  /** Sources that hit it, most hits first. */
  sources: EndpointSource[];
  /** e2e tests that hit it, by name: those of runs seen here, not the imported upstream e2e source. */
  e2eTests: EndpointE2eTest[];
  /** Field paths used, by direction and path. */
  fields: EndpointField[];
}

/**
 * Everything known about one endpoint of a release (default: the default release) in the selection of
 * `filters` (sources, time window; `level` does not apply): its spec entry, hits by status class and
 * detail, the sources and e2e tests that hit it, the field paths they used, first and last seen. Throws
 * NotFoundError when the release has no such endpoint and nothing hit it.
 */
export async function getEndpointDetail(
  prisma: PrismaClient,
  operationId: string,
  asked: CoverageFilters,
): Promise<EndpointDetail> {
  const [release, filters] = await Promise.all([
    resolveRelease(prisma, asked.release),
    narrowWindow(prisma, asked),
  ]);
  const endpoint = (await prisma.endpoint.findUnique({
    where: { release_operationId: { release, operationId } },
    omit: { release: true },
  })) as EndpointInfo | null;

  // The coarsest rollups that answer the selection (all-time totals, or whole days and hours and only the
  // edge minutes of a window): they carry the status classes and details, so no view of an endpoint reads
  // every minute row kept.
  const parts = () => {
    const params = new SqlParams();
    const sql = endpointSourcesSql(filters, params, params.add(release), params.add(operationId));
    return { sql, params: params.values };
  };
  const perSource = parts();
  const counts = parts();
  const fieldParams = new SqlParams();
  const fieldRelease = fieldParams.add(release);
  const fieldOperation = fieldParams.add(operationId);
  const fieldSources = sourceRestriction(filters, fieldParams, `f."sourceId"`);
  // Without a window the all-time totals per source; with one the hours it overlaps.
  const fieldRows = hasWindow(filters)
    ? `SELECT f."sourceId", f."direction", f."field", f."unknown", f."count" FROM "FieldCount" f
       WHERE f."release" = ${fieldRelease} AND f."operationId" = ${fieldOperation}${fieldSources}${windowRestriction(filters, fieldParams, `f."hour"`, "hour")}`
    : `SELECT f."sourceId", f."direction", f."field", f."unknown", f."count" FROM "FieldTotal" f
       WHERE f."release" = ${fieldRelease} AND f."operationId" = ${fieldOperation}${fieldSources}`;
  const [bySource, countRows, fields] = await Promise.all([
    prisma.$queryRawUnsafe<
      Array<{
        sourceId: number;
        hits: number;
        hits2xx: number;
        first: Date;
        last: Date;
        first2xx: Date | null;
        last2xx: Date | null;
      }>
    >(
      `SELECT p."sourceId", sum(p.hits)::float8 AS hits, sum(p.hits2xx)::float8 AS hits2xx,
              min(p."firstSeen") AS first, max(p."lastSeen") AS last, min(p."first2xx") AS first2xx, max(p."last2xx") AS last2xx
       FROM (${perSource.sql}) p GROUP BY p."sourceId"`,
      ...perSource.params,
    ),
    prisma.$queryRawUnsafe<Array<{ kind: "status" | "detail"; key: string; hits: number }>>(
      `WITH p AS MATERIALIZED (${counts.sql})
       SELECT 'status' AS kind, c.key, sum(c.value::numeric)::float8 AS hits
       FROM p, jsonb_each_text(p."otherStatusClasses") AS c(key, value) GROUP BY c.key
       UNION ALL
       SELECT 'detail', c.key, sum(c.value::numeric)::float8
       FROM p, jsonb_each_text(p."details") AS c(key, value) GROUP BY c.key`,
      ...counts.params,
    ),
    prisma.$queryRawUnsafe<EndpointField[]>(
      `SELECT f."direction", f."field", bool_or(f."unknown") AS unknown, sum(f."count")::float8 AS count,
              count(DISTINCT f."sourceId")::int AS sources
       FROM (${fieldRows}) f
       GROUP BY f."direction", f."field" ORDER BY f."direction", f."field"`,
      ...fieldParams.values,
    ),
  ]);
  if (!endpoint && bySource.length === 0) {
    throw new NotFoundError("endpoint", `release ${release} has no endpoint ${operationId}`);
  }

  const summaries = await sourcesById(
    prisma,
    bySource.map((row) => row.sourceId),
  );
  const sources = new Map<number, EndpointSource>();
  let hits = 0;
  let hits2xx = 0;
  let firstSeen: Date | null = null;
  let lastSeen: Date | null = null;
  const twoxx = filters.outcome === "2xx";
  for (const row of bySource) {
    hits += row.hits;
    hits2xx += row.hits2xx;
    // First and last seen count the hits under the outcome only.
    const first = twoxx ? row.first2xx : row.first;
    const last = twoxx ? row.last2xx : row.last;
    if (first && (!firstSeen || first < firstSeen)) firstSeen = first;
    if (last && (!lastSeen || last > lastSeen)) lastSeen = last;
    sources.set(row.sourceId, {
      ...(summaries.get(row.sourceId) as SourceSummary),
      hits: row.hits,
      hits2xx: row.hits2xx,
      firstHit: row.first,
      lastHit: row.last,
    });
  }
  const statusClasses: Record<string, number> = hits2xx > 0 ? { "2xx": hits2xx } : {};
  const details: Record<string, number> = {};
  for (const row of countRows) {
    if (row.kind === "status") statusClasses[row.key] = row.hits;
    else details[row.key] = row.hits;
  }
  const e2eTests = new Map<string, EndpointE2eTest>();
  for (const source of sources.values()) {
    // Upstream e2e's tests are apisnoop's published list, shown as that; these are runs seen here.
    if (!source.e2eTest || source.name === UPSTREAM_E2E) continue;
    const test = e2eTests.get(source.e2eTest) ?? {
      name: source.e2eTest,
      conformance: source.conformance,
      hits: 0,
      hits2xx: 0,
    };
    test.hits += source.hits;
    test.hits2xx += source.hits2xx;
    e2eTests.set(source.e2eTest, test);
  }
  return {
    release,
    operationId,
    endpoint,
    hits,
    hits2xx,
    tested: (filters.outcome === "2xx" ? hits2xx : hits) > 0,
    firstSeen,
    lastSeen,
    statusClasses,
    details: Object.fromEntries(Object.entries(details).sort(([a], [b]) => a.localeCompare(b))),
    sources: [...sources.values()].sort((a, b) => b.hits - a.hits || a.id - b.id),
    e2eTests: [...e2eTests.values()].sort((a, b) => a.name.localeCompare(b.name)),
    fields,
  };
}
