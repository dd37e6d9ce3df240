import {
  type ApisnoopCoverage,
  buildUsageReport,
  callerLabel,
  conformanceStatus,
  diffCoverage,
  diffReleases,
  endpointCoverageRows,
  type IneligibleEndpoint,
  reportExitCode,
  upstreamSource,
} from "@apisnoop/coverage";
import {
  countUnknownCalls,
  type DatabaseReads,
  type EndpointCounts,
  getChart,
  getConformance,
  getConformanceFieldCoverage,
  getCoverageCounts,
  getEndpointDetail,
  getPriorities,
  getReleaseCatalog,
  getUnknown,
  getUsage,
  listReleases,
  listSources,
  type PrismaClient,
  primaryReads,
  resolveRelease,
  type SourceGroup,
  type SourceSummary,
  sourcesNamed,
  type TopSource,
  topSources,
} from "@apisnoop/db";
import { NotFoundError } from "@apisnoop/db/errors";
import { type CoverageFilters, chartName, type Level, parseCoverageFilters } from "@apisnoop/db/filters";
import { compareReleaseNames, isVersionedName, UNMATCHED_REASONS } from "@apisnoop/openapi";
import { type Source, sourceKey, UPSTREAM_E2E } from "@apisnoop/protocol";
import { tally } from "../coverage/tally";
import type {
  ChartReport,
  CoverageReport,
  DashboardData,
  EndpointCoverage,
  PrioritiesReport,
  SourceSummaryRow,
  UnknownCallRow,
  UnknownReport,
  UpstreamImportState,
} from "../data/dashboard-data";
import { sourceLabel } from "../sources/source-label";

/** How many sources (besides upstream e2e's one row) a view's source table lists. */
const SOURCE_ROWS = 50;

/** How many tests or sources a compared endpoint names. */
const MAX_COMPARE_CALLERS = 5;

export interface DatabaseDashboardDataOptions {
  prisma: PrismaClient;
  /**
   * Where the views' queries run (a read replica that has replayed the last commit, else `prisma`);
   * default: `prisma` alone.
   */
  reads?: DatabaseReads;
  /** apisnoop's published coverage per release, for the "tested by upstream e2e" marks. */
  upstream: ReadonlyMap<string, ApisnoopCoverage>;
  /** apisnoop's ineligible endpoints, for the links behind the conformance view's reasons. */
  ineligible?: ReadonlyMap<string, IneligibleEndpoint>;
  /** Where this start's import of upstream e2e coverage stands (none: no import). */
  upstreamImports?: () => readonly UpstreamImportState[];
}

/** The dashboard's data layer over packages/db; `invalidate()` after every committed batch. */
export interface DatabaseDashboardData extends DashboardData {
  /** Forgets cached reports: new hits were stored. */
  invalidate(): void;
  /** The release a filter set resolves to (the default one when it names none); throws NotFoundError. */
  resolveRelease(name: string | undefined): Promise<string>;
  /** Operation ids of a release (at a level), for live scoping. */
  endpointIds(release: string, level: Level | undefined): Promise<Set<string>>;
}

/**
 * The pages' and HTTP API's data: each view is one of packages/db's query functions, shaped for
 * rendering. Coverage reports are cached per filter set until the next ingest commit (a relative time
 * window for the current minute only), so page loads and API polls cost one query per change of data.
 */
export function createDatabaseDashboardData(options: DatabaseDashboardDataOptions): DatabaseDashboardData {
  const { upstream, ineligible } = options;
  const reads = options.reads ?? primaryReads(options.prisma);
  // Every query of a view goes through here, and a view that needs several makes them in one `read`: one
  // choice of server, made after the last commit, so its figures agree with each other. Views built from
  // other cached views (compare) combine reports each read that way, possibly at different moments since
  // the last commit.
  const read = <T>(query: (db: PrismaClient) => Promise<T>) => reads.read(query);
  const coverageCache = new Map<string, Promise<CoverageReport>>();
  const prioritiesCache = new Map<string, Promise<PrioritiesReport>>();
  // Suggestions may lag new sources by a few seconds; they are not worth a query per page under ingest.
  let facetsCache: { at: number; facets: ReturnType<DashboardData["sourceFacets"]> } | null = null;

  const withUpstream = (
    release: string,
    rows: EndpointCounts[],
    filters: CoverageFilters,
  ): EndpointCoverage[] =>
    endpointCoverageRows(rows, { outcome: filters.outcome, upstream: upstream.get(release) });

  const buildCoverage = async (filters: CoverageFilters): Promise<CoverageReport> => {
    // Independent queries, in parallel: a view costs the slowest of them, not their sum. The source table
    // lists the most active sources and counts the rest: listing every source of a window over all of
    // them aggregated each source's rows per endpoint (seconds at 2,000 sources).
    const [coverage, top, upstreamSources, unknownCalls] = await read((db) =>
      Promise.all([
        getCoverageCounts(db, filters),
        topSources(db, filters, SOURCE_ROWS, { except: UPSTREAM_E2E }),
        sourcesNamed(db, filters, UPSTREAM_E2E),
        countUnknownCalls(db, filters),
      ]),
    );
    const scoped = { ...filters, release: coverage.release };
    const endpoints = withUpstream(coverage.release, coverage.endpoints, filters);
    const tallies = tally(endpoints);
    const hitsOf = (source: TopSource) => (filters.outcome === "2xx" ? source.hits2xx : source.hits);
    // apisnoop's tested endpoints, which the import turned into exactly the upstream source's hits.
    const upstreamRow = upstreamSources
      ? [
          upstreamSummary(
            upstreamSources,
            filters.outcome === "2xx" ? upstreamSources.hits2xx : upstreamSources.hits,
            endpoints.filter((endpoint) => endpoint.upstreamTested).length,
          ),
        ]
      : [];
    return {
      release: coverage.release,
      filters: scoped,
      endpoints,
      totals: {
        all: tallies.all,
        byLevel: tallies.byLevel,
        conformanceEligible: tallies.eligible,
        hits: endpoints.reduce((sum, endpoint) => sum + endpoint.hits, 0),
        unknownCalls,
      },
      sources: [
        ...upstreamRow,
        ...top.sources.map((source) => sourceRow(source, hitsOf(source), source.endpoints, source.lastHit)),
      ],
      sourceCount: top.count + upstreamRow.length,
    };
  };

  return {
    parseFilters: (query) => parseCoverageFilters(query),

    async releases() {
      const [releases, fallback] = await read(async (db) => [
        await listReleases(db),
        await resolveRelease(db).catch(() => null),
      ]);
      // The release a URL without `release=` shows comes first (the picker's empty value).
      return releases
        .map((r) => ({ name: r.name, origin: r.origin, isDefault: r.isDefault, endpoints: r.endpoints }))
        .sort((a, b) => Number(b.name === fallback) - Number(a.name === fallback));
    },

    resolveRelease: (name) => read((db) => resolveRelease(db, name)),

    coverage(filters) {
      return cached(coverageCache, viewKey(filters), () => buildCoverage(filters));
    },

    priorities(filters, limit) {
      return cached(prioritiesCache, `${viewKey(filters)}|${limit}`, async () => {
        const priorities = await read((db) => getPriorities(db, filters, { limit }));
        return { ...priorities, filters: { ...filters, release: priorities.release } };
      });
    },

    async endpoint(operationId, filters) {
      let detail: Awaited<ReturnType<typeof getEndpointDetail>>;
      try {
        detail = await read((db) => getEndpointDetail(db, operationId, filters));
      } catch (error) {
        if (error instanceof NotFoundError && error.missing === "endpoint") return null;
        throw error;
      }
      const info = detail.endpoint;
      if (!info || info.watchOperation) return null;
      const published = upstream.get(detail.release);
      const twoxx = filters.outcome === "2xx";
      const hitsOf = (s: (typeof detail.sources)[number]) => (twoxx ? s.hits2xx : s.hits);
      const { own, upstreamRow } = splitUpstream(detail.sources, hitsOf, 1);
      return {
        release: detail.release,
        endpoint: {
          operationId: info.operationId,
          method: info.method,
          path: info.path,
          level: info.level,
          category: info.category,
          group: info.group,
          version: info.version,
          kind: info.kind,
          deprecated: info.deprecated,
          conformanceEligible: info.conformanceEligible,
          hits: twoxx ? detail.hits2xx : detail.hits,
          upstreamTested: published ? (published.endpoints.get(operationId)?.tested ?? false) : null,
          description: info.description,
          action: info.action,
          ineligibleReason: info.ineligibleReason,
        },
        hits: twoxx ? detail.hits2xx : detail.hits,
        firstSeen: detail.firstSeen?.toISOString() ?? null,
        lastSeen: detail.lastSeen?.toISOString() ?? null,
        statusClasses: Object.entries(detail.statusClasses)
          .map(([statusClass, hits]) => ({ statusClass, hits }))
          .sort((a, b) => a.statusClass.localeCompare(b.statusClass)),
        details: Object.entries(detail.details)
          .map(([name, hits]) => ({ detail: name, hits }))
          .sort((a, b) => b.hits - a.hits || a.detail.localeCompare(b.detail)),
        sources: [...upstreamRow, ...own.map((s) => sourceRow(s, hitsOf(s), 1, s.lastHit))],
        e2eTests: detail.e2eTests.map((t) => ({
          test: t.name,
          conformance: t.conformance,
          hits: twoxx ? t.hits2xx : t.hits,
        })),
        fields: detail.fields.map((f) => ({
          direction: f.direction,
          field: f.field,
          unknown: f.unknown,
          hits: f.count,
        })),
        // apisnoop lists a test once per hit and "" for hits it could not tie to a test.
        upstreamTests: [...new Set(published?.endpoints.get(operationId)?.tests ?? [])].filter(Boolean),
      };
    },

    async chart(name, filters): Promise<ChartReport | null> {
      const report = await read((db) => getChart(db, name, filters));
      if (report.sources.length === 0) return null;
      const unknown = unknownRows({
        release: report.release,
        calls: report.unknownCalls,
        fields: report.unknownFields,
        sources: report.sources,
      });
      const byLevel = tally(withUpstream(report.release, report.endpoints, filters)).byLevel;
      return {
        chart: name,
        release: report.release,
        endpoints: withUpstream(report.release, report.endpoints, { ...filters, outcome: "any" }),
        byLevel,
        deprecated: withUpstream(report.release, report.deprecated, { ...filters, outcome: "any" }),
        unknownCalls: unknown.calls,
        outsideSpecCalls: unknown.outsideSpec,
        unknownFields: unknown.fields,
        fieldsByKind: report.fieldsByDefinition.map((d) => ({
          kind: d.definition.split(".").at(-1) ?? d.definition,
          fields: d.fields,
          unknown: d.unknownFields,
        })),
        pods: report.pods,
      };
    },

    async conformance(release) {
      const [stored, fields] = await read((db) =>
        Promise.all([getConformance(db, { release }), getConformanceFieldCoverage(db, { release })]),
      );
      const status = conformanceStatus(stored.release, stored.endpoints, {
        published: upstream.get(stored.release) ?? null,
        ...(ineligible ? { ineligible } : {}),
      });
      return { ...status, fields };
    },

    async compare(from, to, filters) {
      // The endpoint sets are compared at every level; the coverage at the level of the filters.
      const { level, ...allLevels } = filters;
      const [before, after] = await Promise.all([
        this.coverage({ ...allLevels, release: from }),
        this.coverage({ ...allLevels, release: to }),
      ]);
      const rows = (report: CoverageReport) =>
        report.endpoints.map((endpoint) => ({ ...endpoint, tested: endpoint.hits > 0 }));
      const [earlier, later] = [rows(before), rows(after)];
      const atLevel = (list: typeof earlier) => (level ? list.filter((e) => e.level === level) : list);
      return {
        from: before.release,
        to: after.release,
        spec: diffReleases({ release: from, endpoints: earlier }, { release: to, endpoints: later }),
        coverage: diffCoverage(
          { label: from, endpoints: atLevel(earlier) },
          { label: to, endpoints: atLevel(later) },
        ),
      };
    },

    async compareSelections(earlier, later, options = {}) {
      const [before, after] = await Promise.all([this.coverage(earlier), this.coverage(later)]);
      // Who hit what: the tests or sources of each side, for two runs or clusters (one query per side,
      // in the release the coverage resolved to). Time windows over every source skip it.
      const callers = options.callers
        ? await read((db) =>
            Promise.all(
              [
                [earlier, before.release],
                [later, after.release],
              ].map(async ([filters, release]) => {
                const usage = await getUsage(
                  db,
                  { ...(filters as CoverageFilters), release: release as string },
                  MAX_COMPARE_CALLERS,
                );
                return new Map(usage.operations.map((o) => [o.operationId, o.callers.map(callerLabel)]));
              }),
            ),
          )
        : null;
      const rows = (report: CoverageReport, side: number) =>
        report.endpoints.map((endpoint) => {
          const who = callers?.[side]?.get(endpoint.operationId);
          return { ...endpoint, tested: endpoint.hits > 0, ...(who ? { callers: who } : {}) };
        });
      const label = (filters: CoverageFilters) =>
        `${filters.from?.toISOString() ?? ""}..${filters.to?.toISOString() ?? ""}`;
      return {
        release: after.release,
        coverage: diffCoverage(
          { label: options.labels?.[0] ?? label(earlier), endpoints: rows(before, 0) },
          { label: options.labels?.[1] ?? label(later), endpoints: rows(after, 1) },
        ),
      };
    },

    async unknown(filters) {
      return unknownRows(await read((db) => getUnknown(db, filters)));
    },

    async readiness(filters, target) {
      const { usage, catalog, excluded, named, targetCatalog } = await read(async (db) => {
        const usage = await getUsage(db, filters);
        const { catalog, ineligible: excluded } = await getReleaseCatalog(db, usage.release);
        const named =
          target ??
          nextRelease(
            usage.release,
            (await listReleases(db)).map((r) => r.name),
          );
        let targetCatalog: Awaited<ReturnType<typeof getReleaseCatalog>>["catalog"] | undefined;
        if (named !== undefined) {
          try {
            targetCatalog = (await getReleaseCatalog(db, named)).catalog;
          } catch (error) {
            if (!(error instanceof NotFoundError)) throw error;
            throw new NotFoundError(
              "release",
              `target release ${named} is not loaded: npx apisnoop spec add --release ${named} loads it`,
            );
          }
        }
        return { usage, catalog, excluded, named, targetCatalog };
      });
      const report = buildUsageReport(usage.operations, catalog, excluded, {
        ...(targetCatalog ? { target: targetCatalog } : {}),
      });
      return { release: usage.release, target: named ?? null, report, exitCode: reportExitCode(report) };
    },

    upstreamImports: () => options.upstreamImports?.() ?? [],

    sourceFacets() {
      if (!facetsCache || Date.now() - facetsCache.at > 10_000) {
        const facets = read((db) => loadFacets(db));
        facetsCache = { at: Date.now(), facets };
        facets.catch(() => {
          facetsCache = null;
        });
      }
      return facetsCache.facets;
    },

    async endpointIds(release, level) {
      const rows = await read((db) =>
        db.endpoint.findMany({
          where: { release, watchOperation: false, ...(level ? { level } : {}) },
          select: { operationId: true },
        }),
      );
      return new Set(rows.map((row) => row.operationId));
    },

    invalidate() {
      coverageCache.clear();
      prioritiesCache.clear();
    },
  };
}

/**
 * The cache key of a view's filters: a view with a time window is cached for the current minute only,
 * as its relative bounds move.
 */
function viewKey(filters: CoverageFilters): string {
  const relative = filters.from !== undefined || filters.to !== undefined;
  return `${JSON.stringify(filters)}|${relative ? Math.floor(Date.now() / 60_000) : ""}`;
}

/** The report cached under `key`, built when missing; a failed build is forgotten. Bounded to 500 views. */
function cached<T>(cache: Map<string, Promise<T>>, key: string, build: () => Promise<T>): Promise<T> {
  let report = cache.get(key);
  if (!report) {
    report = build();
    if (cache.size > 500) cache.clear();
    cache.set(key, report);
    report.catch(() => cache.delete(key));
  }
  return report;
}

/** Distinct values of each source filter, for the filter bar's suggestions. */
async function loadFacets(prisma: PrismaClient) {
  const sources = await listSources(prisma, { outcome: "any" }).catch(() => []);
  const distinct = (values: Array<string | null>) =>
    [...new Set(values.filter((v): v is string => Boolean(v)))].sort().slice(0, 500);
  return {
    cluster: distinct(sources.map((s) => s.cluster)),
    run: distinct(sources.map((s) => s.run)),
    chart: distinct(sources.map((s) => (s.chart ? chartName(s.chart) : null))),
    namespace: distinct(sources.map((s) => s.namespace)),
    pod: distinct(sources.map((s) => s.pod)),
    serviceAccount: distinct(sources.map((s) => s.serviceAccount)),
    userAgent: distinct(sources.map((s) => s.userAgent.split(" ", 1)[0] ?? null)),
    e2eTest: distinct(sources.map((s) => s.e2eTest)),
  };
}

/** The protocol's Source of a stored source row. */
function sourceOf(row: SourceSummary): Source {
  return {
    userAgent: row.userAgent,
    e2eTest: row.e2eTest,
    conformance: row.conformance,
    name: row.name,
    namespace: row.namespace,
    pod: row.pod,
    serviceAccount: row.serviceAccount,
    chart: row.chart,
    helmRelease: row.helmRelease,
    managedBy: row.managedBy,
    cluster: row.cluster,
    run: row.run,
  };
}

function label(row: SourceSummary): string {
  return sourceLabel(sourceOf(row));
}

/** The release loaded next after `release` (numbered releases only), when there is one. */
function nextRelease(release: string, loaded: readonly string[]): string | undefined {
  if (!isVersionedName(release)) return undefined;
  return loaded
    .filter((name) => isVersionedName(name) && compareReleaseNames(name, release) > 0)
    .sort(compareReleaseNames)[0];
}

/**
 * Upstream e2e is one source to the reader, however many tests it stands for: its sources as one row
 * (none when absent), apart from the others.
 */
function splitUpstream<T extends SourceSummary>(
  sources: T[],
  hitsOf: (source: T) => number,
  endpoints: number,
): { own: T[]; upstreamRow: SourceSummaryRow[] } {
  const own = sources.filter((source) => source.name !== UPSTREAM_E2E);
  const tests = sources.filter((source) => source.name === UPSTREAM_E2E);
  if (tests.length === 0) return { own, upstreamRow: [] };
  const group = {
    sources: tests.length,
    tests: tests.filter((source) => source.e2eTest !== null).length,
  };
  const hits = tests.reduce((sum, source) => sum + hitsOf(source), 0);
  return { own, upstreamRow: [upstreamSummary(group, hits, endpoints)] };
}

/** The one row of upstream e2e's sources: `hits` under the outcome, `endpoints` it tested. */
function upstreamSummary(
  group: Pick<SourceGroup, "tests">,
  hits: number,
  endpoints: number,
): SourceSummaryRow {
  return {
    key: UPSTREAM_E2E,
    label: "upstream e2e",
    source: upstreamSource(null, false),
    hits,
    endpoints,
    lastSeen: null,
    // apisnoop's hits tied to no test are one more source, not one more test.
    tests: group.tests,
  };
}

function sourceRow(
  row: SourceSummary,
  hits: number,
  endpoints: number,
  lastHit: Date | null,
): SourceSummaryRow {
  return {
    // The protocol's key, so a live delta's source is recognised as one the table already lists.
    key: sourceKey(sourceOf(row)),
    label: label(row),
    source: sourceOf(row),
    hits,
    endpoints,
    lastSeen: lastHit ? lastHit.toISOString() : null,
  };
}

function unknownRows(report: Awaited<ReturnType<typeof getUnknown>>): UnknownReport {
  const labels = new Map(report.sources.map((source) => [source.id, label(source)]));
  const names = (ids: number[]) => [...new Set(ids.map((id) => labels.get(id) ?? `source ${id}`))].sort();
  const calls = report.calls.map((call) => ({
    method: call.method,
    path: call.path,
    reason: call.reason,
    hits: call.count,
    sources: names(call.sourceIds),
    lastSeen: call.lastSeen.toISOString(),
  }));
  const outside = (call: UnknownCallRow) => call.reason === UNMATCHED_REASONS.outsideSpec;
  return {
    calls: calls.filter((call) => !outside(call)),
    outsideSpec: calls.filter(outside),
    fields: report.fields.map((field) => ({
      operationId: field.operationId,
      direction: field.direction,
      field: field.field,
      hits: field.count,
      sources: names(field.sourceIds),
    })),
  };
}
