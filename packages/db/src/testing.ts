import { randomBytes, randomUUID } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type IngestBatch, PROTOCOL_VERSION, type Source, sourceFromUserAgent } from "@apisnoop/protocol";
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

/**
 * Every row of every table in the database's public schema as text, one line per row prefixed by its
 * table: what a privacy test greps for secrets (GUIDE §4).
 */
export async function dumpDatabaseText(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ table: string }>(
      `SELECT table_name AS table FROM information_schema.tables
       WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
    );
    const lines: string[] = [];
    for (const { table } of tables.rows) {
      const rows = await client.query<{ row: string }>(`SELECT t::text AS row FROM "${table}" t`);
      for (const { row } of rows.rows) lines.push(`${table}\t${row}`);
    }
    return lines.join("\n");
  } finally {
    await client.end();
  }
}

/** A source for tests: the user agent's attribution plus `overrides`. */
export function testSource(userAgent: string, overrides: Partial<Source> = {}): Source {
  return { ...sourceFromUserAgent(userAgent), ...overrides };
}

/** An ingest batch for tests, with a fresh id and empty row lists unless given. */
export function testBatch(parts: Partial<IngestBatch> = {}): IngestBatch {
  return {
    protocol: PROTOCOL_VERSION,
    batchId: randomUUID(),
    proxyId: "test-proxy",
    release: "1.34",
    sentAt: Date.UTC(2026, 10, 28, 12, 0),
    sources: [],
    hits: [],
    unknownCalls: [],
    fields: [],
    ...parts,
  };
}

/** Epoch minute of a UTC date-time, as batches carry it. */
export function epochMinute(iso: string): number {
  return Math.floor(Date.parse(iso) / 60_000);
}

export { PRIORITY_SOURCES, type PrioritySourceName, prioritiesBatch } from "./priorities-scenario";
export { type StreamingPair, startStreamingPair, systemPostgresBin } from "./streaming-pair";
