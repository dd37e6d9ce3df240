import type { Endpoint } from "@apisnoop/openapi";
import { UPSTREAM_E2E } from "@apisnoop/protocol";
import type { PrismaClient } from "./client";
import type { EndpointSpec } from "./coverage";
import { narrowWindow } from "./data-window";
import { NotFoundError } from "./errors";
import type { CoverageFilters } from "./filters";
import { resolveRelease } from "./releases";
import { SqlParams, sourceRestriction, windowRestriction } from "./selection-sql";
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

  const params = new SqlParams();
  const hitWhere =
    `h."release" = ${params.add(release)} AND h."operationId" = ${params.add(operationId)}` +
    sourceRestriction(filters, params, `h."sourceId"`) +
    windowRestriction(filters, params, `h."minute"`, "minute");
  const bySource = await prisma.$queryRawUnsafe<
    Array<{ sourceId: number; statusClass: string; hits: number; first: Date; last: Date }>
  >(
    `SELECT h."sourceId", h."statusClass", sum(h."count")::float8 AS hits, min(h."minute") AS first, max(h."minute") AS last
     FROM "HitRollup" h WHERE ${hitWhere} GROUP BY h."sourceId", h."statusClass"`,
    ...params.values,
  );
  if (!endpoint && bySource.length === 0) {
    throw new NotFoundError("endpoint", `release ${release} has no endpoint ${operationId}`);
  }
  const details = await prisma.$queryRawUnsafe<Array<{ detail: string; hits: number }>>(
    `SELECT d.key AS detail, sum(d.value::numeric)::float8 AS hits
     FROM "HitRollup" h, jsonb_each_text(h."details") AS d(key, value)
     WHERE ${hitWhere} AND h."details" <> '{}'::jsonb GROUP BY d.key ORDER BY d.key`,
    ...params.values,
  );

  const fieldParams = new SqlParams();
  const fieldWhere =
    `f."release" = ${fieldParams.add(release)} AND f."operationId" = ${fieldParams.add(operationId)}` +
    sourceRestriction(filters, fieldParams, `f."sourceId"`) +
    windowRestriction(filters, fieldParams, `f."hour"`, "hour");
  const fields = await prisma.$queryRawUnsafe<EndpointField[]>(
    `SELECT f."direction", f."field", bool_or(f."unknown") AS unknown, sum(f."count")::float8 AS count,
            count(DISTINCT f."sourceId")::int AS sources
     FROM "FieldCount" f WHERE ${fieldWhere}
     GROUP BY f."direction", f."field" ORDER BY f."direction", f."field"`,
    ...fieldParams.values,
  );

  const summaries = await sourcesById(
    prisma,
    bySource.map((row) => row.sourceId),
  );
  const statusClasses: Record<string, number> = {};
  const sources = new Map<number, EndpointSource>();
  let hits = 0;
  let hits2xx = 0;
  let firstSeen: Date | null = null;
  let lastSeen: Date | null = null;
  for (const row of bySource) {
    const counted = filters.outcome === "any" || row.statusClass === "2xx";
    statusClasses[row.statusClass] = (statusClasses[row.statusClass] ?? 0) + row.hits;
    hits += row.hits;
    if (row.statusClass === "2xx") hits2xx += row.hits;
    if (counted) {
      if (!firstSeen || row.first < firstSeen) firstSeen = row.first;
      if (!lastSeen || row.last > lastSeen) lastSeen = row.last;
    }
    const source = sources.get(row.sourceId) ?? {
      ...(summaries.get(row.sourceId) as SourceSummary),
      hits: 0,
      hits2xx: 0,
      firstHit: row.first,
      lastHit: row.last,
    };
    source.hits += row.hits;
    if (row.statusClass === "2xx") source.hits2xx += row.hits;
    if (row.first < source.firstHit) source.firstHit = row.first;
    if (row.last > source.lastHit) source.lastHit = row.last;
    sources.set(row.sourceId, source);
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
    details: Object.fromEntries(details.map((row) => [row.detail, row.hits])),
    sources: [...sources.values()].sort((a, b) => b.hits - a.hits || a.id - b.id),
    e2eTests: [...e2eTests.values()].sort((a, b) => a.name.localeCompare(b.name)),
    fields,
  };
}
