import { createHash, randomUUID } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

/** prisma/migrations of this checkout. */
export const MIGRATIONS_DIR = path.resolve(fileURLToPath(import.meta.url), "../../../../prisma/migrations");

/** The advisory lock Prisma's migrate takes, so our runner and Prisma's tooling never interleave. */
const MIGRATION_LOCK = 72707369;

/** Prisma's bookkeeping table, column for column, so `prisma migrate status`-style tooling reads ours. */
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** One migration folder: `<timestamp>_<name>/migration.sql`. */
export interface Migration {
  name: string;
  sql: string;
  /** sha256 of the file as Prisma computes it. */
  checksum: string;
}

/** The migrations in a folder, in the order they apply (by folder name, which starts with a timestamp). */
export function readMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((name) => statSync(path.join(dir, name)).isDirectory())
    .sort()
    .map((name) => {
      const bytes = readFileSync(path.join(dir, name, "migration.sql"));
      return {
        name,
        sql: bytes.toString("utf8"),
        checksum: createHash("sha256").update(bytes).digest("hex"),
      };
    });
}

/** What a run of the migration runner did. */
export interface MigrationResult {
  /** Names of the migrations this run applied, in order. */
  applied: string[];
  /** Names of the migrations that were already applied. */
  alreadyApplied: string[];
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

/**
 * Applies the pending migrations of `dir` to the database at `databaseUrl`, each in its own transaction,
 * recording them in `_prisma_migrations` as Prisma does. Safe to run from several processes at once (an
 * advisory lock serialises them). Refuses to go on when an applied migration's file has changed or a
 * migration is recorded as failed: both need a person to look.
 */
export async function applyMigrations(
  databaseUrl: string,
  dir: string = MIGRATIONS_DIR,
): Promise<MigrationResult> {
  const migrations = readMigrations(dir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    await client.query(CREATE_MIGRATIONS_TABLE);
    const rows = (
      await client.query<AppliedRow>(
        `SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations"`,
      )
    ).rows.filter((row) => row.rolled_back_at === null);
    const failed = rows.find((row) => row.finished_at === null);
    if (failed) {
      throw new Error(
        `migration ${failed.migration_name} is recorded as failed in _prisma_migrations; fix the database, then delete that row`,
      );
    }
    const applied = new Map(rows.map((row) => [row.migration_name, row.checksum]));
    const result: MigrationResult = { applied: [], alreadyApplied: [] };
    for (const migration of migrations) {
      const checksum = applied.get(migration.name);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new Error(
            `migration ${migration.name} was changed after it was applied (checksum ${checksum} != ${migration.checksum}); add a new migration instead`,
          );
        }
        result.alreadyApplied.push(migration.name);
        continue;
      }
      await applyOne(client, migration);
      result.applied.push(migration.name);
    }
    return result;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => {});
    await client.end();
  }
}

/** Runs one migration and its bookkeeping row in one transaction: it applies whole or not at all. */
async function applyOne(client: pg.Client, migration: Migration): Promise<void> {
  await client.query("BEGIN");
  try {
    const id = randomUUID();
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())`,
      [id, migration.checksum, migration.name],
    );
    await client.query(migration.sql);
    await client.query(
      `UPDATE "_prisma_migrations" SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1`,
      [id],
    );
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw new Error(`migration ${migration.name} failed: ${(error as Error).message}`, { cause: error });
  }
}
