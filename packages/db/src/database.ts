import path from "node:path";
import { fileURLToPath } from "node:url";
import { createPrismaClient, type PrismaClient } from "./client";
import { startEmbeddedPostgres } from "./embedded-postgres";
import { applyMigrations, type MigrationResult } from "./migrate";

/** The checkout's `.apisnoop`: apisnoop's local state (the embedded database, the proxy's spool). */
export const STATE_DIR = path.resolve(fileURLToPath(import.meta.url), "../../../../.apisnoop");

/** The checkout's `.apisnoop/pgdata`: where the embedded PostgreSQL keeps its cluster by default. */
export const DEFAULT_DATA_DIR = path.join(STATE_DIR, "pgdata");

/** An open, migrated database. */
export interface Database {
  /** The one Prisma client of the process. */
  prisma: PrismaClient;
  /** Connection URL (the embedded server's when no URL was given). */
  url: string;
  /** Whether the data lives in an embedded PostgreSQL. */
  embedded: boolean;
  /** What the migration runner did on open. */
  migrations: MigrationResult;
  /** Disconnects, and stops the embedded server when this call started it. */
  stop(): Promise<void>;
}

/** Where the database is: `databaseUrl` for any PostgreSQL, else an embedded one in `dataDir`. */
export interface OpenDatabaseOptions {
  /** A PostgreSQL URL (the app's `DATABASE_URL`); when absent, an embedded PostgreSQL is started. */
  databaseUrl?: string | undefined;
  /** Data dir of the embedded PostgreSQL; default `.apisnoop/pgdata` in the checkout. */
  dataDir?: string | undefined;
  /** Receives the embedded server's log lines. */
  log?: (line: string) => void;
  /** Names this process's connections in pg_stat_activity (`application_name`). */
  applicationName?: string;
  /** Run the embedded server without fsync: for throw-away test databases only. */
  volatile?: boolean;
  /** Run the embedded server in a process group of its own (see `startEmbeddedPostgres`). */
  ownProcessGroup?: boolean;
}

/**
 * Opens apisnoop's database: connects to `databaseUrl`, or starts (or joins) the embedded PostgreSQL in
 * `dataDir`; applies pending migrations; returns the Prisma client. Reading `DATABASE_URL` from the
 * environment is the caller's job (each app's env.ts, GUIDE §6).
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Database> {
  const embedded = options.databaseUrl
    ? null
    : await startEmbeddedPostgres({
        dataDir: options.dataDir ?? DEFAULT_DATA_DIR,
        stateDir: STATE_DIR,
        ...(options.log ? { log: options.log } : {}),
        volatile: options.volatile ?? false,
        ownProcessGroup: options.ownProcessGroup ?? false,
      });
  const url = options.databaseUrl ?? (embedded?.url as string);
  let migrations: MigrationResult;
  try {
    migrations = await applyMigrations(url);
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  const prisma = createPrismaClient(url, options.applicationName);
  return {
    prisma,
    url,
    embedded: embedded !== null,
    migrations,
    async stop() {
      await prisma.$disconnect();
      await embedded?.stop();
    },
  };
}
