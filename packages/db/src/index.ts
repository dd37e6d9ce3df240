export {
  type ChartPod,
  type ChartReport,
  type DefinitionFieldUse,
  getChart,
  type OtherOperationUse,
} from "./chart";
export { createPrismaClient, type PrismaClient } from "./client";
export {
  type ConformanceEndpointRow,
  type ConformanceFieldCoverage,
  type ConformanceRun,
  getConformance,
  getConformanceFieldCoverage,
  type RequestFieldCoverage,
} from "./conformance";
export {
  type Coverage,
  type CoverageTotal,
  coverageTotals,
  type EndpointCounts,
  type EndpointCoverage,
  getCoverage,
  getCoverageCounts,
} from "./coverage";
export {
  type Database,
  DEFAULT_DATA_DIR,
  type OpenDatabaseOptions,
  openDatabase,
  STATE_DIR,
} from "./database";
export { type EmbeddedPostgres, startEmbeddedPostgres } from "./embedded-postgres";
export {
  type EndpointDetail,
  type EndpointE2eTest,
  type EndpointField,
  type EndpointInfo,
  type EndpointSource,
  getEndpointDetail,
} from "./endpoint-detail";
export { InvalidBatchError, NotFoundError } from "./errors";
export * from "./filters";
export {
  applyMigrations,
  MIGRATIONS_DIR,
  type Migration,
  type MigrationResult,
  readMigrations,
} from "./migrate";
export {
  type ConformanceEvidence,
  DEFAULT_PRIORITIES_LIMIT,
  getPriorities,
  type Priorities,
  type PriorityEndpoint,
  type PriorityField,
  type PriorityWorkload,
} from "./priorities";
export {
  type DatabaseReads,
  DEFAULT_READ_REPLICA_WAIT_MS,
  formatLsn,
  parseLsn,
  primaryReads,
  type ReadReplicaOptions,
  type ReadStats,
  readReplica,
} from "./read-replica";
export { type RecordBatchResult, recordBatch, sourceIdentity, UNKNOWN_RELEASE } from "./record-batch";
export {
  defaultReleaseName,
  getReleaseCatalog,
  type IneligibleEndpoint,
  listReleases,
  loadRelease,
  type ReleaseSummary,
  resolveRelease,
} from "./releases";
export {
  checkRetention,
  DEFAULT_RETENTION,
  enforceRetention,
  type RetentionPolicy,
  type RetentionRun,
} from "./retention";
export {
  listSources,
  type SourceActivity,
  type SourceGroup,
  type SourceSummary,
  sourcesById,
  sourcesNamed,
  type TopSource,
  type TopSources,
  topSources,
} from "./sources";
export {
  countUnknownCalls,
  getUnknown,
  type UnknownCallSummary,
  type UnknownFieldSummary,
  type UnknownReport,
} from "./unknown";
export { type Caller, getUsage, type OperationUsage } from "./usage";
export { workloadFilters } from "./workloads";
