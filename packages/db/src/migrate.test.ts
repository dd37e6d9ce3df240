import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "./database";
import { applyMigrations, MIGRATIONS_DIR, readMigrations } from "./migrate";
import { createScratchDatabase, openTestDatabase } from "./testing";

let db: Database;
const scratches: Array<{ drop: () => Promise<void> }> = [];
const dirs: string[] = [];

beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => {
  for (const scratch of scratches) await scratch.drop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  await db?.stop();
});

async function emptyDatabase(): Promise<string> {
  const scratch = await createScratchDatabase(db.url);
  scratches.push(scratch);
  return scratch.url;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** A copy of the project's migrations that a test may change. */
function migrationsCopy(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-migrations-"));
  dirs.push(dir);
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

describe("applyMigrations", () => {
  it("applies every migration to an empty database, then nothing on a second run", async () => {
    const url = await emptyDatabase();
    const names = readMigrations().map((migration) => migration.name);
    expect(names.length).toBeGreaterThan(0);
    expect(await applyMigrations(url)).toEqual({ applied: names, alreadyApplied: [] });
    expect(await applyMigrations(url)).toEqual({ applied: [], alreadyApplied: names });
  });

  it("records migrations as Prisma does: its columns, sha256 checksums, finished and one step", async () => {
    const url = await emptyDatabase();
    await applyMigrations(url);
    const columns = await query<{ column_name: string; data_type: string; is_nullable: string }>(
      url,
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    expect(columns.map((column) => [column.column_name, column.data_type, column.is_nullable])).toEqual([
      ["id", "character varying", "NO"],
      ["checksum", "character varying", "NO"],
      ["finished_at", "timestamp with time zone", "YES"],
      ["migration_name", "character varying", "NO"],
      ["logs", "text", "YES"],
      ["rolled_back_at", "timestamp with time zone", "YES"],
      ["started_at", "timestamp with time zone", "NO"],
      ["applied_steps_count", "integer", "NO"],
    ]);
    const rows = await query<{
      migration_name: string;
      checksum: string;
      finished_at: Date | null;
      applied_steps_count: number;
    }>(
      url,
      `SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name`,
    );
    for (const row of rows) {
      const file = readFileSync(path.join(MIGRATIONS_DIR, row.migration_name, "migration.sql"));
      expect(row.checksum).toBe(createHash("sha256").update(file).digest("hex"));
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.applied_steps_count).toBe(1);
    }
    expect(rows.map((row) => row.migration_name)).toEqual(readMigrations().map((m) => m.name));
  });

  it("applies only what is pending, in folder order", async () => {
    const url = await emptyDatabase();
    const dir = migrationsCopy();
    await applyMigrations(url, dir);
    mkdirSync(path.join(dir, "29991231000000_later"));
    writeFileSync(path.join(dir, "29991231000000_later", "migration.sql"), 'CREATE TABLE "Later" (x int);\n');
    mkdirSync(path.join(dir, "29991230000000_earlier"));
    writeFileSync(
      path.join(dir, "29991230000000_earlier", "migration.sql"),
      'CREATE TABLE "Earlier" (x int);\n',
    );
    const result = await applyMigrations(url, dir);
    expect(result.applied).toEqual(["29991230000000_earlier", "29991231000000_later"]);
  });

  it("rolls a failing migration back whole and records nothing", async () => {
    const url = await emptyDatabase();
    const dir = migrationsCopy();
    mkdirSync(path.join(dir, "29991231000000_broken"));
    writeFileSync(
      path.join(dir, "29991231000000_broken", "migration.sql"),
      'CREATE TABLE "Half" (x int);\nSELECT no_such_function();\n',
    );
    await expect(applyMigrations(url, dir)).rejects.toThrow(
      /29991231000000_broken failed: .*no_such_function/,
    );
    const tables = await query<{ table_name: string }>(
      url,
      `SELECT table_name FROM information_schema.tables WHERE table_name = 'Half'`,
    );
    expect(tables).toEqual([]);
    const recorded = await query<{ migration_name: string }>(
      url,
      `SELECT migration_name FROM "_prisma_migrations"`,
    );
    expect(recorded.map((row) => row.migration_name)).not.toContain("29991231000000_broken");
    // The migrations before it did apply, each in its own transaction.
    expect(recorded.length).toBe(readMigrations().length);
  });

  it("refuses to go on when an applied migration's file changed", async () => {
    const url = await emptyDatabase();
    const dir = migrationsCopy();
    await applyMigrations(url, dir);
    const first = readMigrations(dir)[0]?.name as string;
    writeFileSync(path.join(dir, first, "migration.sql"), "-- edited\n", { flag: "a" });
    await expect(applyMigrations(url, dir)).rejects.toThrow(/was changed after it was applied/);
  });

  it("serialises concurrent runners: each migration applies once", async () => {
    const url = await emptyDatabase();
    const results = await Promise.all([applyMigrations(url), applyMigrations(url), applyMigrations(url)]);
    const applied = results.flatMap((result) => result.applied);
    expect(applied).toEqual(readMigrations().map((migration) => migration.name));
  });
});
