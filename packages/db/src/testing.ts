import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { type Database, openDatabase } from "./database";

/**
 * Test support: a fresh, migrated database for one test file. With `DATABASE_URL` set (CI's PostgreSQL),
 * a new database is created on that server and dropped afterwards (the role needs CREATEDB); without it,
 * an embedded PostgreSQL runs in a temporary data dir that is removed afterwards.
 */
export async function openTestDatabase(): Promise<Database> {
  const serverUrl = process.env.DATABASE_URL;
  return serverUrl ? openOnServer(serverUrl) : openEmbedded();
}

async function openEmbedded(): Promise<Database> {
  const root = mkdtempSync(path.join(tmpdir(), "apisnoop-db-test-"));
  chmodSync(root, 0o755); // As root, the cluster's owner "postgres" must reach into it.
  try {
    const db = await openDatabase({ dataDir: path.join(root, "pgdata"), volatile: true });
    return {
      ...db,
      async stop() {
        await db.stop();
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

async function openOnServer(serverUrl: string): Promise<Database> {
  const scratch = await createScratchDatabase(serverUrl);
  try {
    const db = await openDatabase({ databaseUrl: scratch.url });
    return {
      ...db,
      async stop() {
        await db.stop();
        await scratch.drop();
      },
    };
  } catch (error) {
    await scratch.drop();
    throw error;
  }
}

/**
 * Creates an empty database (no migrations applied) on the server of `serverUrl`, for tests of the
 * migration runner itself. `drop()` removes it, disconnecting whoever still uses it.
 */
export async function createScratchDatabase(
  serverUrl: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `apisnoop_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
