import { type Database, openDatabase } from "@apisnoop/db";
import type { CommandIO } from "./command";
import { readEnv } from "./env";

/** The option every command that stores or reads coverage shares. */
export const DATABASE_OPTIONS = {
  "database-url": { type: "string" },
} as const;

export const DATABASE_OPTIONS_HELP = `  --database-url URL     PostgreSQL to use (default: $DATABASE_URL, else the embedded PostgreSQL in
                         $APISNOOP_DATA_DIR or .apisnoop/pgdata, started on demand)`;

/** Opens the database the flags and environment name, migrated; the caller must `stop()` it. */
export function openDatabaseOption(values: { "database-url"?: string }, io: CommandIO): Promise<Database> {
  const env = readEnv();
  const databaseUrl = values["database-url"] ?? env.DATABASE_URL;
  if (!databaseUrl) io.stderr.write("using the embedded PostgreSQL (set DATABASE_URL to use another)\n");
  return openDatabase({ databaseUrl, dataDir: env.APISNOOP_DATA_DIR });
}

/** Runs `work` with an open database and always closes it. */
export async function withDatabase<T>(
  values: { "database-url"?: string },
  io: CommandIO,
  work: (db: Database) => Promise<T>,
): Promise<T> {
  const db = await openDatabaseOption(values, io);
  try {
    return await work(db);
  } finally {
    await db.stop();
  }
}
