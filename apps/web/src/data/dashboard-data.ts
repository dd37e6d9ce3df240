import type {
  ConformanceStatus,
  CoverageDiff,
  EndpointCoverageRow,
  ReleaseDiff,
  UsageReport,
} from "@apisnoop/coverage";
import type { ConformanceEndpointRow, ConformanceFieldCoverage, Priorities } from "@apisnoop/db";
import type { CoverageFilters } from "@apisnoop/db/filters";
import type { Level } from "@apisnoop/openapi";
import type { Source } from "@apisnoop/protocol";

/**
 * What the pages and the HTTP API read, in the shapes they render. The server (server.ts) provides an
 * implementation over packages/db; Next's bundles only ever see these types, so the Prisma client, the
 * connection pool and the live hub exist once per process, in the custom server.
 */
export interface DashboardData {
  /** Parses the filters of a page or API URL; a bad value is an error naming the parameter. */
  parseFilters(query: URLSearchParams): FilterResult;
  /** Releases whose spec is loaded, the default one first. */
  releases(): Promise<ReleaseSummary[]>;
  /** Coverage of the filtered selection, with every endpoint of the release. */
  coverage(filters: DashboardFilters): Promise<CoverageReport>;
  /** One endpoint: what it is and who hit it under the filters; null when the release has no such endpoint. */
  endpoint(operationId: string, filters: DashboardFilters): Promise<EndpointDetail | null>;
  /** One Helm chart's usage; null when no source of that chart was ever seen. */
  chart(name: string, filters: DashboardFilters): Promise<ChartReport | null>;
  /** Calls that matched no endpoint and fields absent from the schema. */
  unknown(filters: DashboardFilters): Promise<UnknownReport>;
  /** Distinct values of the source filters, for suggestions. */
  sourceFacets(): Promise<SourceFacets>;
  /**
   * What the selection's workloads use that no recorded conformance test exercises: endpoints, body
   * fields and alpha/beta endpoints, ranked by workloads then hits, each list at most `limit` rows.
   * Rejects with NotFoundError for a release that is not loaded.
   */
  priorities(filters: DashboardFilters, limit: number): Promise<PrioritiesReport>;
  /**
   * A release's stable endpoints split as apisnoop's conformance-progress page does (eligible, ineligible
   * with reasons, tested by conformance tests), from the imported `upstream-e2e` source, and the
   * field-level coverage of eligible endpoints by the conformance runs recorded through the proxy;
   * default: the default release. Rejects with NotFoundError for a release that is not loaded.
   */
  conformance(release: string | undefined): Promise<ConformanceReport>;
  /**
   * Two releases compared: their endpoint sets (added, removed, promoted, newly deprecated; all levels)
   * and the coverage of the filtered selection (of `filters.level`, when set) in each. Rejects with
   * NotFoundError when either release is not loaded.
   */
  compare(from: string, to: string, filters: DashboardFilters): Promise<CompareReport>;
  /**
   * The coverage of two selections of one release: two time windows, or two runs or clusters (each side's
   * filters carry its own; the release and other filters are the same). With `callers`, each endpoint a
   * side hit names the tests or sources that hit it (most hits first, at most five). `labels` name the
   * sides (default: their windows). Rejects with NotFoundError for a release that is not loaded.
   */
  compareSelections(
    earlier: DashboardFilters,
    later: DashboardFilters,
    options?: { callers?: boolean; labels?: [string, string] },
  ): Promise<WindowCompareReport>;
  /**
   * Upgrade readiness, what `apisnoop report` says: the deprecated endpoints the selection calls, and
   * those `target` (default: the next newer loaded release; none when there is none) no longer serves.
   * Rejects with NotFoundError for a release or target that is not loaded.
   */
  readiness(filters: DashboardFilters, target: string | undefined): Promise<ReadinessReport>;
  /** The import of apisnoop's published upstream e2e coverage this start runs, per release (or none). */
  upstreamImports(): readonly UpstreamImportState[];
}

/** Where the import of one release's published upstream e2e coverage stands. */
export interface UpstreamImportState {
  release: string;
  state: "waiting" | "importing" | "imported" | "already imported" | "failed";
  /** Endpoints apisnoop's coverage marks tested, and the e2e tests that hit them. */
  endpoints: number;
  tests: number;
  /** How long the import took, once done. */
  seconds: number | null;
  error: string | null;
}

/** The upgrade-readiness view of a selection: `apisnoop report`'s findings and the exit code CI gets. */
export interface ReadinessReport {
  release: string;
  /** The release checked for removed endpoints; null when none newer is loaded and none was named. */
  target: string | null;
  report: UsageReport;
  /** What `apisnoop report` exits with for the same selection: 0 clean, 2 deprecated, 3 removed. */
  exitCode: number;
}

/** Two time windows of one release compared, for one selection. */
export interface WindowCompareReport {
  release: string;
  coverage: CoverageDiff<ComparedEndpoint>;
}

/**
 * One endpoint of a compared release: its coverage, `tested` when hit under the outcome, and, when the
 * comparison asked for them, the tests or sources that hit it on its side ("name (hits)").
 */
export type ComparedEndpoint = EndpointCoverage & { tested: boolean; callers?: string[] };

/** Two releases compared, for one selection. */
export interface CompareReport {
  from: string;
  to: string;
  spec: ReleaseDiff<ComparedEndpoint>;
  coverage: CoverageDiff<ComparedEndpoint>;
}

/** The priorities view of a selection (packages/db's `getPriorities`), with the filters it answers. */
export interface PrioritiesReport extends Priorities {
  filters: DashboardFilters;
}

/** The conformance view of one release. */
export type ConformanceReport = ConformanceStatus<ConformanceEndpointRow> & {
  /** How much of eligible endpoints' request schemas the recorded conformance runs sent. */
  fields: ConformanceFieldCoverage;
};

/** The filters every view shares, all in the URL: packages/db's CoverageFilters, parsed by db. */
export type DashboardFilters = CoverageFilters;

export type FilterResult = { ok: true; filters: DashboardFilters } | { ok: false; error: string };

export interface ReleaseSummary {
  name: string;
  origin: string;
  isDefault: boolean;
  endpoints: number;
}

/** One endpoint of the release with its hits under the filters (the CSV export's row). */
export type EndpointCoverage = EndpointCoverageRow;

/** Endpoints and how many of them were hit. */
export interface Tally {
  total: number;
  hit: number;
}

export interface SourceSummaryRow {
  key: string;
  label: string;
  source: Source;
  hits: number;
  endpoints: number;
  lastSeen: string | null;
  /** The row of upstream e2e: how many e2e tests it stands for. */
  tests?: number;
}

export interface CoverageReport {
  release: string;
  filters: DashboardFilters;
  endpoints: EndpointCoverage[];
  totals: {
    all: Tally;
    byLevel: Record<Level, Tally>;
    conformanceEligible: Tally;
    hits: number;
    unknownCalls: number;
  };
  /** Sources of the selection, most hits first (at most 50). */
  sources: SourceSummaryRow[];
  /** Distinct sources of the selection. */
  sourceCount: number;
}

export interface EndpointDetail {
  release: string;
  endpoint: EndpointCoverage & {
    description: string | null;
    action: string | null;
    ineligibleReason: string | null;
  };
  hits: number;
  firstSeen: string | null;
  lastSeen: string | null;
  statusClasses: Array<{ statusClass: string; hits: number }>;
  /** How it was called: "watch", "dryRun", "patch:merge", "subresource:status", ... with their hits. */
  details: Array<{ detail: string; hits: number }>;
  sources: SourceSummaryRow[];
  e2eTests: Array<{ test: string; conformance: boolean; hits: number }>;
  fields: Array<{ direction: "request" | "response"; field: string; unknown: boolean; hits: number }>;
  /** Upstream e2e tests that exercise this endpoint (apisnoop's data), when imported. */
  upstreamTests: string[];
}

export interface ChartReport {
  chart: string;
  release: string;
  endpoints: EndpointCoverage[];
  byLevel: Record<Level, Tally>;
  deprecated: EndpointCoverage[];
  unknownCalls: UnknownCallRow[];
  /** Its calls to paths every apiserver serves outside its spec (`/openapi/v3`, `/healthz`). */
  outsideSpecCalls: UnknownCallRow[];
  unknownFields: UnknownFieldRow[];
  /** Field paths seen per kind: how many distinct fields of each kind the chart's requests and responses used. */
  fieldsByKind: Array<{ kind: string; fields: number; unknown: number }>;
  pods: Array<{ namespace: string | null; pod: string | null; hits: number; endpoints: number }>;
}

export interface UnknownCallRow {
  method: string;
  path: string;
  reason: string;
  hits: number;
  sources: string[];
  lastSeen: string | null;
}

export interface UnknownFieldRow {
  operationId: string;
  direction: "request" | "response";
  field: string;
  hits: number;
  sources: string[];
}

export interface UnknownReport {
  calls: UnknownCallRow[];
  /** Calls to paths every apiserver serves outside its spec (`/openapi/v3`, `/healthz`): not unknown. */
  outsideSpec: UnknownCallRow[];
  fields: UnknownFieldRow[];
}

export interface SourceFacets {
  cluster: string[];
  run: string[];
  chart: string[];
  namespace: string[];
  pod: string[];
  serviceAccount: string[];
  userAgent: string[];
  e2eTest: string[];
}
