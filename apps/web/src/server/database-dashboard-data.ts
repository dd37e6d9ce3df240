import type { ApisnoopCoverage } from "@apisnoop/coverage";
import type { Level } from "@apisnoop/openapi";
import { tally } from "../coverage/tally";
import {
  type ChartReport,
  type CoverageReport,
  type DashboardData,
  type DashboardFilters,
  DataError,
  type EndpointCoverage,
  type ReleaseSummary,
} from "../data/dashboard-data";
import { parseDashboardFilters } from "../filters/dashboard-filters";
import {
  chartExists,
  endpointCoverage,
  endpointRow,
  fieldsByKind,
  fieldUses,
  podBreakdown,
  type SqlClient,
  seenRange,
  sourceFacetValues,
  sourceSummary,
  statusClasses,
  unknownCallCount,
  unknownCalls,
} from "./queries/dashboard-queries";

export interface DatabaseDashboardDataOptions {
  sql: SqlClient;
  /** apisnoop's published coverage per release, for the "tested by upstream e2e" marks. */
  upstream: ReadonlyMap<string, ApisnoopCoverage>;
  now?: () => Date;
}

/** The dashboard's data layer over the database; `invalidate()` after every committed batch. */
export interface DatabaseDashboardData extends DashboardData {
  /** Forgets cached reports: new hits were stored. */
  invalidate(): void;
  /** The release a filter set resolves to (the default one when it names none). */
  resolveRelease(name: string | null): Promise<string>;
  /** Operation ids of a release (at a level), for live scoping. */
  endpointIds(release: string, level: Level | null): Promise<Set<string>>;
}

/**
 * Builds the data layer the pages and the HTTP API read. Coverage reports are cached per filter set
 * until the next ingest commit (and per minute for time windows), so page loads and API polls cost one
 * query per change of data, not per request.
 */
export function createDatabaseDashboardData(options: DatabaseDashboardDataOptions): DatabaseDashboardData {
  const { sql, upstream } = options;
  const now = options.now ?? (() => new Date());
  const coverageCache = new Map<string, Promise<CoverageReport>>();
  let releaseCache: Promise<ReleaseSummary[]> | null = null;

  const releases = (): Promise<ReleaseSummary[]> => {
    releaseCache ??= sql
      .$queryRawUnsafe<ReleaseSummary[]>(
        `SELECT r."name", r."origin", r."isDefault",
                (SELECT COUNT(*) FROM "Endpoint" e WHERE e."release" = r."name" AND NOT e."watchOperation")::int AS endpoints
         FROM "Release" r`,
      )
      .then((rows) =>
        rows.sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || compareReleases(b.name, a.name)),
      )
      .catch((error) => {
        releaseCache = null;
        throw error;
      });
    return releaseCache;
  };

  const resolveRelease = async (name: string | null): Promise<string> => {
    const loaded = await releases();
    if (loaded.length === 0) throw new DataError(404, "no release is loaded yet");
    if (name === null) return (loaded[0] as ReleaseSummary).name;
    if (!loaded.some((release) => release.name === name)) {
      throw new DataError(
        404,
        `release ${name} is not loaded (loaded: ${loaded.map((r) => r.name).join(", ")})`,
      );
    }
    return name;
  };

  const withUpstream = (
    release: string,
    rows: Omit<EndpointCoverage, "upstreamTested">[],
  ): EndpointCoverage[] => {
    const published = upstream.get(release);
    return rows.map((row) => ({
      ...row,
      upstreamTested: published ? (published.endpoints.get(row.operationId)?.tested ?? false) : null,
    }));
  };

  const buildCoverage = async (filters: DashboardFilters): Promise<CoverageReport> => {
    const release = await resolveRelease(filters.release);
    const at = now();
    const [rows, sources, unknown] = await Promise.all([
      endpointCoverage(sql, release, filters, at),
      sourceSummary(sql, release, filters, at),
      unknownCallCount(sql, filters, at),
    ]);
    const endpoints = withUpstream(release, rows);
    const tallies = tally(endpoints);
    return {
      release,
      filters: { ...filters, release },
      endpoints,
      totals: {
        all: tallies.all,
        byLevel: tallies.byLevel,
        conformanceEligible: tallies.eligible,
        hits: endpoints.reduce((sum, endpoint) => sum + endpoint.hits, 0),
        unknownCalls: unknown,
      },
      sources: sources.rows,
      sourceCount: sources.count,
    };
  };

  return {
    parseFilters: parseDashboardFilters,
    releases,
    resolveRelease,

    coverage(filters) {
      // A window moves with the clock: cache it for the current minute only.
      const minute = filters.windowMinutes === null ? "" : String(Math.floor(now().getTime() / 60_000));
      const key = `${JSON.stringify(filters)}|${minute}`;
      let report = coverageCache.get(key);
      if (!report) {
        report = buildCoverage(filters);
        if (coverageCache.size > 500) coverageCache.clear();
        coverageCache.set(key, report);
        report.catch(() => coverageCache.delete(key));
      }
      return report;
    },

    async endpoint(operationId, filters) {
      const release = await resolveRelease(filters.release);
      const row = await endpointRow(sql, release, operationId);
      if (!row) return null;
      if (filters.level && row.level !== filters.level) return null;
      const at = now();
      const [sources, statuses, seen, fields] = await Promise.all([
        sourceSummary(sql, release, filters, at, { operationId, limit: 200 }),
        statusClasses(sql, release, operationId, filters, at),
        seenRange(sql, release, operationId, filters, at),
        fieldUses(sql, release, filters, at, { operationId }),
      ]);
      const hits = statuses.reduce((sum, s) => sum + s.hits, 0);
      const tests = new Map<string, { test: string; conformance: boolean; hits: number }>();
      for (const row of sources.rows) {
        const test = row.source.e2eTest;
        if (!test) continue;
        const entry = tests.get(test) ?? { test, conformance: row.source.conformance, hits: 0 };
        entry.hits += row.hits;
        tests.set(test, entry);
      }
      const [endpoint] = withUpstream(release, [{ ...row, hits }]);
      const published = upstream.get(release)?.endpoints.get(operationId);
      return {
        release,
        endpoint: {
          ...(endpoint as EndpointCoverage),
          description: row.description,
          action: row.action,
          ineligibleReason: row.ineligibleReason,
        },
        hits,
        firstSeen: seen.firstSeen?.toISOString() ?? null,
        lastSeen: seen.lastSeen?.toISOString() ?? null,
        statusClasses: statuses,
        sources: sources.rows,
        e2eTests: [...tests.values()].sort((a, b) => b.hits - a.hits),
        fields: fields.map((f) => ({
          direction: f.direction,
          field: f.field,
          unknown: f.unknown,
          hits: f.hits,
        })),
        upstreamTests: published?.tests ?? [],
      };
    },

    async chart(name, filters): Promise<ChartReport | null> {
      if (!(await chartExists(sql, name))) return null;
      const scoped = { ...filters, chart: name };
      const release = await resolveRelease(filters.release);
      const at = now();
      const [rows, calls, fields, kinds, pods] = await Promise.all([
        endpointCoverage(sql, release, scoped, at),
        unknownCalls(sql, scoped, at),
        fieldUses(sql, release, scoped, at, { unknownOnly: true, limit: 500 }),
        fieldsByKind(sql, release, scoped),
        podBreakdown(sql, release, scoped, at),
      ]);
      const all = withUpstream(release, rows);
      const used = all.filter((endpoint) => endpoint.hits > 0);
      return {
        chart: name,
        release,
        endpoints: used,
        byLevel: tally(all).byLevel,
        deprecated: used.filter((endpoint) => endpoint.deprecated),
        unknownCalls: calls,
        unknownFields: fields,
        fieldsByKind: kinds,
        pods,
      };
    },

    async unknown(filters) {
      const release = await resolveRelease(filters.release);
      const at = now();
      const [calls, fields] = await Promise.all([
        unknownCalls(sql, filters, at),
        fieldUses(sql, release, filters, at, { unknownOnly: true, limit: 1000 }),
      ]);
      return { calls, fields };
    },

    sourceFacets: () => sourceFacetValues(sql),

    async endpointIds(release, level) {
      const rows = await sql.$queryRawUnsafe<Array<{ operationId: string }>>(
        `SELECT "operationId" FROM "Endpoint" WHERE "release" = $1 AND NOT "watchOperation"${level ? ` AND "level" = $2` : ""}`,
        ...(level ? [release, level] : [release]),
      );
      return new Set(rows.map((row) => row.operationId));
    },

    invalidate() {
      coverageCache.clear();
      releaseCache = null;
    },
  };
}

/** "1.9" < "1.10". */
function compareReleases(a: string, b: string): number {
  const [pa, pb] = [a, b].map((name) => name.split(".").map(Number));
  for (let i = 0; i < Math.max(pa?.length ?? 0, pb?.length ?? 0); i++) {
    const diff = (pa?.[i] ?? 0) - (pb?.[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return a.localeCompare(b);
}
