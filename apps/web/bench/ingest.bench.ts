/**
 * bench:ingest — hits per second from the proxy's recording side to committed rows: the proxy's
 * Uplink (write-ahead journal, edge rollups, fsync'd spool, Socket.IO) delivering to the web app's real
 * ingest namespace (in a process of its own, `ingest-server.ts`), which commits each batch to PostgreSQL
 * through recordBatch before acknowledging it.
 * Hits are generated as fast as the uplink takes them for BENCH_SECONDS (default 60), from 200 sources
 * each using 30 of 900 endpoints (skewed, as real traffic is), then the run waits for the spool to drain and checks
 * that the database holds every hit. Baselines in the same run: the rollup fold alone, and the fold plus
 * the journal write, so the cost of each stage shows. Prints spool depth and memory every 10 s.
 *
 *   npm run bench:ingest [-- SECONDS]
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openTestDatabase } from "@apisnoop/db/testing";
import { seededRandom } from "@apisnoop/openapi/testing";
import { type Hit, RollupBuilder, type Source, sourceFromUserAgent } from "@apisnoop/protocol";
import { HitJournal, Uplink } from "@apisnoop/proxy";

const SECONDS = Number(process.argv[2] ?? process.env.BENCH_SECONDS ?? 60);
const SOURCES = 200;
const ENDPOINTS = 900;

const next = seededRandom(42);
const sources: Source[] = Array.from({ length: SOURCES }, (_, i) =>
  sourceFromUserAgent(`bench-client-${i}/v1.0 (linux/amd64)`),
);
/** Each source uses its own 30 endpoints (of 900), a few of them most of the time, as real clients do. */
const ENDPOINTS_PER_SOURCE = 30;
const usedBy = sources.map((_, i) =>
  Array.from({ length: ENDPOINTS_PER_SOURCE }, (_, j) => (i * 37 + j * 101) % ENDPOINTS),
);
function hitNow(at: number): Hit {
  const source = Math.floor(next() * SOURCES);
  const endpoint = (usedBy[source] as number[])[Math.floor(ENDPOINTS_PER_SOURCE * next() ** 2)] as number;
  return {
    at,
    method: "GET",
    operationId: `op${endpoint}`,
    path: `/api/v1/op${endpoint}`,
    status: next() < 0.95 ? 200 : 404,
    source: sources[source] as Source,
    details: endpoint % 10 === 0 ? ["watch"] : [],
  };
}

/** Hits per second of `fold` over one second of generated hits. */
function rate(fold: (hit: Hit) => void): number {
  const started = performance.now();
  let n = 0;
  while (performance.now() - started < 1000) {
    const at = Date.now();
    for (let i = 0; i < 1000; i++) fold(hitNow(at));
    n += 1000;
  }
  return n / ((performance.now() - started) / 1000);
}

const workDir = mkdtempSync(path.join(tmpdir(), "apisnoop-bench-ingest-"));
const db = await openTestDatabase();
const token = randomBytes(20).toString("hex");
// The ingest side runs in its own process, as the web app does: the proxy's work and the web app's do not
// share one event loop.
const here = path.dirname(fileURLToPath(import.meta.url));
const server = spawn(
  path.join(here, "../../../node_modules/.bin/tsx"),
  [path.join(here, "ingest-server.ts")],
  {
    env: { ...process.env, DATABASE_URL: db.url, APISNOOP_INGEST_TOKEN: token },
    stdio: ["ignore", "pipe", "inherit"],
  },
);
const url = await new Promise<string>((resolve, reject) => {
  server.stdout.setEncoding("utf8").on("data", (text: string) => {
    const port = /listening (\d+)/.exec(text)?.[1];
    if (port) resolve(`http://127.0.0.1:${port}`);
  });
  server.once("exit", (code) => reject(new Error(`ingest server exited with ${code}`)));
});

try {
  const builder = new RollupBuilder("bench", null);
  const foldRate = rate((hit) => builder.add(hit));
  const { journal } = HitJournal.open(path.join(workDir, "baseline.journal"));
  const journalBuilder = new RollupBuilder("bench", null);
  const journalRate = rate((hit) => {
    journal.append(hit);
    journalBuilder.add(hit);
  });
  await journal.close();

  const uplink = new Uplink({
    url,
    token,
    proxyId: "bench",
    release: () => "1.34",
    spoolDir: path.join(workDir, "spool"),
  });
  let generated = 0;
  let maxSpool = 0;
  let maxRss = 0;
  const started = performance.now();
  let lastReport = started;
  // Generate in slices so the uplink's sends and acks get the event loop between them.
  while (performance.now() - started < SECONDS * 1000) {
    const at = Date.now();
    for (let i = 0; i < 2000; i++) uplink.count(hitNow(at));
    generated += 2000;
    await new Promise((resolve) => setImmediate(resolve));
    const stats = uplink.stats();
    maxSpool = Math.max(maxSpool, stats.spoolBatches);
    maxRss = Math.max(maxRss, process.memoryUsage().rss);
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      console.log(
        `  ${((lastReport - started) / 1000).toFixed(0)} s: ${generated} hits, spool ${stats.spoolBatches} batches ` +
          `(${(stats.spoolBytes / 2 ** 20).toFixed(1)} MiB), rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
      );
    }
  }
  const generating = (performance.now() - started) / 1000;
  uplink.flush();
  while (uplink.stats().spoolBatches > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  const committed = (performance.now() - started) / 1000;
  await uplink.close();
  const rows = await db.prisma.$queryRawUnsafe<{ hits: bigint; rows: bigint }[]>(
    `SELECT COALESCE(SUM(count), 0)::bigint AS hits, COUNT(*)::bigint AS rows FROM "HitRollup"`,
  );
  const stored = Number(rows[0]?.hits ?? 0);

  const perSecond = (n: number, s: number) => `${Math.round(n / s).toLocaleString("en-US")}/s`;
  console.log(
    [
      `bench:ingest — ${SECONDS} s, ${SOURCES} sources x ${ENDPOINTS} endpoints, uplink -> Socket.IO -> recordBatch -> PostgreSQL`,
      `  generated      ${generated.toLocaleString("en-US")} hits in ${generating.toFixed(1)} s (${perSecond(generated, generating)})`,
      `  committed      ${stored.toLocaleString("en-US")} hits as ${Number(rows[0]?.rows ?? 0).toLocaleString("en-US")} rows, all by ${committed.toFixed(1)} s: ${perSecond(stored, committed)} end to end`,
      `  loss           ${generated - stored} hits ${generated === stored ? "(none)" : "(LOST)"}`,
      `  spool          max ${maxSpool} batches waiting; rss max ${(maxRss / 2 ** 20).toFixed(0)} MiB`,
      `  baselines      rollup fold alone ${perSecond(foldRate, 1)}; fold + journal write ${perSecond(journalRate, 1)}`,
      `  ratio          end to end / fold+journal = ${(stored / committed / journalRate).toFixed(2)}`,
    ].join("\n"),
  );
  if (generated !== stored) process.exitCode = 1;
} finally {
  server.kill("SIGTERM");
  await new Promise((resolve) => server.once("exit", resolve));
  await db.stop();
  rmSync(workDir, { recursive: true, force: true });
}
