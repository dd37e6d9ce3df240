import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
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
    await expect(startEmbeddedPostgres({ dataDir: path.join(file, "pgdata") })).rejects.toThrow(
      /^cannot make the folder of the data directory .*a-file\/pgdata: EEXIST.*: set APISNOOP_DATA_DIR to a folder you can write, or DATABASE_URL/,
    );
  });

  // PostgreSQL refuses to run as root; the cluster then belongs to "postgres", which must reach it.
  const asRoot = userInfo().uid === 0;

  it.runIf(asRoot)("as root, opens the folders it makes and its state dir, whatever the umask", async () => {
    const stateDir = path.join(root, "state");
    mkdirSync(stateDir, { mode: 0o700 }); // as an earlier version left the checkout's .apisnoop
    const nested = path.join(stateDir, "made", "here", "pgdata");
    const umask = process.umask(0o077);
    let db: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
    try {
      db = await startEmbeddedPostgres({ dataDir: nested, stateDir, volatile: true });
    } finally {
      process.umask(umask);
    }
    try {
      expect(await query(db.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
      for (const dir of [stateDir, path.join(stateDir, "made"), path.join(stateDir, "made", "here")]) {
        expect(statSync(dir).mode & 0o011, dir).toBe(0o011);
      }
      expect(statSync(nested).mode & 0o777).toBe(0o700);
    } finally {
      await db.stop();
    }
  });

  it.runIf(asRoot)("as root, names the folder that shuts the postgres user out, and the fixes", async () => {
    const closed = mkdtempSync(path.join(tmpdir(), "apisnoop-closed-")); // mode 0700, as mktemp -d makes
    try {
      const error = await startEmbeddedPostgres({ dataDir: path.join(closed, "pgdata") }).then(
        () => null,
        (e: Error) => e,
      );
      expect(error?.message).toContain(`cannot pass through ${closed} (mode 700) to reach its data:`);
      expect(error?.message).toContain(`chmod o+x ${closed}`);
      expect(error?.message).toContain("APISNOOP_DATA_DIR");
      expect(error?.message).not.toContain("\n");
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
  });
});
