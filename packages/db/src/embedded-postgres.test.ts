import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "./embedded-postgres";

const root = mkdtempSync(path.join(tmpdir(), "apisnoop-embedded-"));
chmodSync(root, 0o755);
const dataDir = path.join(root, "pgdata");
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("startEmbeddedPostgres", () => {
  it("initialises a cluster, is joined by a second opener, and keeps its data across restarts", async () => {
    const first = await startEmbeddedPostgres({ dataDir, volatile: true });
    expect(first.owned).toBe(true);
    expect(first.url).toMatch(/^postgresql:\/\/apisnoop:[^@]+@127\.0\.0\.1:\d+\/apisnoop$/);
    expect(statSync(`${dataDir}.password`).mode & 0o777).toBe(0o600);
    await query(first.url, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)");

    const second = await startEmbeddedPostgres({ dataDir });
    expect(second).toMatchObject({ owned: false, url: first.url });
    await second.stop(); // A joiner's stop leaves the server running.
    expect(await query(first.url, "SELECT n FROM kept")).toEqual([{ n: 42 }]);

    await first.stop();
    await expect(query(first.url, "SELECT 1")).rejects.toThrow();

    const again = await startEmbeddedPostgres({ dataDir });
    try {
      expect(again.owned).toBe(true);
      expect(await query(again.url, "SELECT n FROM kept")).toEqual([{ n: 42 }]);
      expect(await query(again.url, "SHOW listen_addresses")).toEqual([{ listen_addresses: "127.0.0.1" }]);
    } finally {
      await again.stop();
    }
  });

  it("fails with the reason when the data dir cannot be made", async () => {
    const file = path.join(root, "a-file");
    writeFileSync(file, "");
    await expect(startEmbeddedPostgres({ dataDir: path.join(file, "pgdata") })).rejects.toThrow(/ENOTDIR/);
  });
});
