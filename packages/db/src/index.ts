export { createPrismaClient, type PrismaClient } from "./client";
export { type Database, DEFAULT_DATA_DIR, type OpenDatabaseOptions, openDatabase } from "./database";
export { type EmbeddedPostgres, startEmbeddedPostgres } from "./embedded-postgres";
export {
  applyMigrations,
  MIGRATIONS_DIR,
  type Migration,
  type MigrationResult,
  readMigrations,
} from "./migrate";
