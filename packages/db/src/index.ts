export { createPrismaClient, type PrismaClient } from "./client";
export {
  type Coverage,
  type CoverageTotal,
  coverageTotals,
  type EndpointCoverage,
  getCoverage,
} from "./coverage";
export { type Database, DEFAULT_DATA_DIR, type OpenDatabaseOptions, openDatabase } from "./database";
export { type EmbeddedPostgres, startEmbeddedPostgres } from "./embedded-postgres";
export { InvalidBatchError, NotFoundError } from "./errors";
export * from "./filters";
export {
  applyMigrations,
  MIGRATIONS_DIR,
  type Migration,
  type MigrationResult,
  readMigrations,
} from "./migrate";
export { type RecordBatchResult, recordBatch, sourceIdentity, UNKNOWN_RELEASE } from "./record-batch";
export {
  compareReleaseNames,
  defaultReleaseName,
  type IneligibleEndpoint,
  listReleases,
  loadRelease,
  type ReleaseSummary,
  resolveRelease,
} from "./releases";
