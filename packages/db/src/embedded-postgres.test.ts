import { spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
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

  /**
   * Runs `body` in a Node.js process of its own (and a process group of its own, like a terminal's
   * foreground job) that has started a server; `body` sees `db` and `query`. Resolves with the URL the
   * script printed, the child, and its output so far.
   */
  function runOwner(name: string, body: string) {
    const script = path.join(root, `${name}.mts`);
    writeFileSync(
      script,
      `import pg from ${JSON.stringify(createRequire(__filename).resolve("pg"))};
import { startEmbeddedPostgres } from ${JSON.stringify(path.resolve(__dirname, "embedded-postgres.ts"))};
const db = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(path.join(root, name))}, volatile: true, ownProcessGroup: true });
const query = async (sql: string) => {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try { return (await client.query(sql)).rows; } finally { await client.end(); }
};
${body}
console.log("url " + db.url);
`,
    );
    const child = spawn(process.execPath, ["--import", "tsx", script], {
      cwd: __dirname,
      detached: true,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });
    const url = new Promise<string>((resolve, reject) => {
      child.stdout.on("data", () => {
        const match = /^url (\S+)$/m.exec(output);
        if (match) resolve(match[1] as string);
      });
      child.once("exit", (code) =>
        reject(new Error(`the owner exited (${code}) before starting: ${output}`)),
      );
    });
    return { child, url, output: () => output };
  }

  it("keeps serving when Ctrl-C reaches its owner's process group, until the owner stops it", async () => {
    const owner = runOwner(
      "ctrl-c",
      `process.on("SIGINT", async () => {
  await new Promise((resolve) => setTimeout(resolve, 500)); // the owner drains into its database
  try { console.log("after Ctrl-C " + JSON.stringify(await query("SELECT 1 AS one"))); }
  catch (error) { console.log("after Ctrl-C failed: " + error.message); }
  await db.stop();
  process.exit(0);
});`,
    );
    const url = await owner.url;
    process.kill(-(owner.child.pid as number), "SIGINT"); // what a terminal does on Ctrl-C
    const [code] = await once(owner.child, "exit");
    expect(owner.output()).toContain('after Ctrl-C [{"one":1}]');
    expect(code).toBe(0);
    await expect(query(url, "SELECT 1")).rejects.toThrow(); // and the owner's stop() did stop it
  });

  it("stops its server when the owner's process exits without stopping it", async () => {
    const owner = runOwner("exit", "setTimeout(() => process.exit(3), 200);");
    const url = await owner.url;
    expect(await query(url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
    await once(owner.child, "exit");
    let stopped = false;
    for (let attempt = 0; attempt < 100 && !stopped; attempt++) {
      stopped = await query(url, "SELECT 1").then(
        () => false,
        () => true,
      );
      if (!stopped) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(stopped).toBe(true);
  });
});
