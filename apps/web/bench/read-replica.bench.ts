/**
 * `npm run bench:read-replica [-- --seconds 60 --sources 400]`: what DATABASE_READ_URL does to a view
 * under ingest load. A real primary and a real streaming replica of it (`pg_basebackup -R`, the system's
 * PostgreSQL: Debian's postgresql-15), seeded through the ingest namespace with `--sources` sources × 100
 * endpoints × 60 minutes; then two web apps on that primary, one with DATABASE_READ_URL (the replica) and
 * one without (the same-run baseline), while a proxy keeps committing a batch every 200 ms (each commit
 * drops both apps' cached views). The batches go to a third web app, also with DATABASE_READ_URL as every
 * process of a deployment with a replica has it, so the measured app hears each commit with its WAL
 * position through the adapter, as it would from a sibling replica. A client on its own thread asks both
 * apps in turn for the same uncached coverage views (a filter set neither has seen), and prints p50/p95 of
 * each, their ratio, and how the replica's reads went (served, fell back for lag, fell back as down).
 * The three apps share this process's event loop, so ingest slows both sides alike. On one host the
 * replica adds no CPU: the figures say what the fence costs, not what a replica on its own machine would
 * take off the primary. Prints the load average before and after. A script, not a test: it prints figures
 * and never fails on them.
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { startStreamingPair, systemPostgresBin } from "@apisnoop/db/testing";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { type IngestBatch, PROTOCOL_VERSION, type Source, sourceFromUserAgent } from "@apisnoop/protocol";
import { ensureNextBuild } from "../src/server/next-build";
import { startTestStack, type TestStack } from "../src/testing/test-stack";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    sources: { type: "string", default: "400" },
  },
});
const SECONDS = Number(args.seconds);
const SOURCES = Number(args.sources);
const ENDPOINTS = 100;
const MINUTES = 60;
const ROWS_PER_BATCH = 20_000;
const LIVE_ROWS = 1_000;
const LIVE_EVERY_MS = 200;

const log = (line: string) => process.stdout.write(`${line}\n`);
const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(", ");

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** An HTTP client on its own thread, as an API consumer is another process. */
class ApiClient {
  private readonly worker = new Worker(
    `const { parentPort } = require("node:worker_threads");
     parentPort.on("message", async (url) => {
       const start = performance.now();
       const response = await fetch(url);
       await response.arrayBuffer();
       parentPort.postMessage(response.ok ? performance.now() - start : -response.status);
     });`,
    { eval: true },
  );
  private pending: ((ms: number) => void) | null = null;
  constructor() {
    this.worker.on("message", (ms: number) => {
      if (ms < 0) throw new Error(`the API answered ${-ms}`);
      this.pending?.(ms);
    });
  }
  get(url: string): Promise<number> {
    return new Promise((resolve) => {
      this.pending = resolve;
      this.worker.postMessage(url);
    });
  }
  close() {
    return this.worker.terminate();
  }
}

function batchOf(sources: Source[], hits: IngestBatch["hits"]): IngestBatch {
  return {
    protocol: PROTOCOL_VERSION,
    batchId: crypto.randomUUID(),
    proxyId: "bench-read-replica",
    release: "1.34",
    sentAt: Date.now(),
    sources,
    hits,
    unknownCalls: [],
    fields: [],
  };
}

async function main() {
  log(`bench:read-replica — uptime before: load average ${load()}`);
  const bin = systemPostgresBin();
  if (!bin) throw new Error("needs a system PostgreSQL with pg_basebackup (Debian's postgresql-15)");
  await ensureNextBuild(log);
  const pair = await startStreamingPair(bin);
  const sources = Array.from({ length: SOURCES }, (_, i) => ({
    ...sourceFromUserAgent(`operator-${i}/2.0`),
    namespace: `ns-${i % 40}`,
    pod: `op-${i}`,
  }));
  const operations = sharedCatalog("1.34")
    .endpoints.filter((endpoint) => !endpoint.watchOperation)
    .map((endpoint) => endpoint.operationId);
  const now = Math.floor(Date.now() / 60_000);
  const stacks: TestStack[] = [];
  try {
    const withReplica = await startTestStack(
      "1.34",
      { DATABASE_URL: pair.primaryUrl, DATABASE_READ_URL: pair.replicaUrl },
      { databaseUrl: pair.primaryUrl, log: (line) => line.startsWith("read replica") && log(line) },
    );
    stacks.push(withReplica);
    const primaryOnly = await startTestStack(
      "1.34",
      { DATABASE_URL: pair.primaryUrl },
      { databaseUrl: pair.primaryUrl },
    );
    stacks.push(primaryOnly);
    // Stores the batches: a sibling of the measured apps, which hear of its commits, with their fences.
    const ingest = await startTestStack(
      "1.34",
      { DATABASE_URL: pair.primaryUrl, DATABASE_READ_URL: pair.replicaUrl },
      { databaseUrl: pair.primaryUrl },
    );
    stacks.push(ingest);

    let rows: IngestBatch["hits"] = [];
    let seeded = 0;
    const seedStarted = Date.now();
    for (let s = 0; s < SOURCES; s++) {
      for (let e = 0; e < ENDPOINTS; e++) {
        for (let m = 0; m < MINUTES; m++) {
          const operationId = operations[(s * 37 + e * 11) % operations.length] as string;
          rows.push({
            source: s,
            operationId,
            method: "GET",
            statusClass: "2xx",
            minute: now - m,
            count: 3,
            details: {},
          });
          if (rows.length === ROWS_PER_BATCH) {
            const ack = await ingest.ingest(batchOf(sources, rows));
            if (!ack.ok) throw new Error(`seed batch refused: ${ack.error}`);
            seeded += rows.length;
            rows = [];
          }
        }
      }
    }
    if (rows.length > 0) await ingest.ingest(batchOf(sources, rows));
    log(`seeded ${seeded + rows.length} rollup rows in ${((Date.now() - seedStarted) / 1000).toFixed(0)} s`);

    // Live traffic: a batch every LIVE_EVERY_MS, each acked before the next, through the third app (both
    // measured apps hear of each commit through the adapter and drop their cached views).
    let stopped = false;
    let commits = 0;
    const live = (async () => {
      for (let round = 0; !stopped; round++) {
        const started = Date.now();
        const hits = Array.from({ length: LIVE_ROWS }, (_, i) => ({
          source: i % SOURCES,
          operationId: operations[(round + i) % operations.length] as string,
          method: "GET",
          statusClass: "2xx" as const,
          minute: Math.floor(Date.now() / 60_000),
          count: 1,
          details: {},
        }));
        const ack = await ingest.ingest(batchOf(sources, hits));
        if (!ack.ok) throw new Error(`batch refused: ${ack.error}`);
        commits++;
        await new Promise((resolve) =>
          setTimeout(resolve, Math.max(0, LIVE_EVERY_MS - (Date.now() - started))),
        );
      }
    })();

    const client = new ApiClient();
    const times = { replica: [] as number[], primary: [] as number[] };
    const deadline = Date.now() + SECONDS * 1000;
    for (let i = 0; Date.now() < deadline; i++) {
      // A filter set neither app has seen: a selection of sources over a window ending at a new minute.
      const to = new Date((now + 1440 + i) * 60_000).toISOString();
      const query = `/api/v1/coverage?release=1.34&namespace=ns-${i % 40}&from=30m&to=${encodeURIComponent(to)}`;
      const order = i % 2 === 0 ? (["replica", "primary"] as const) : (["primary", "replica"] as const);
      for (const side of order) {
        const stack = side === "replica" ? withReplica : primaryOnly;
        times[side].push(await client.get(`${stack.url}${query}`));
      }
    }
    stopped = true;
    await live;
    await client.close();
    const stats = withReplica.app.reads.stats();
    const line = (name: string, values: number[]) =>
      `${name}: ${values.length} uncached views, p50 ${percentile(values, 50).toFixed(1)} ms, p95 ${percentile(values, 95).toFixed(1)} ms`;
    log(`under ingest: ${commits} commits of ${LIVE_ROWS} rows in ${SECONDS} s`);
    log(line("DATABASE_URL only (baseline)", times.primary));
    log(line("with DATABASE_READ_URL", times.replica));
    log(
      `ratio p50 ${(percentile(times.replica, 50) / percentile(times.primary, 50)).toFixed(2)}, ` +
        `p95 ${(percentile(times.replica, 95) / percentile(times.primary, 95)).toFixed(2)} (replica / baseline)`,
    );
    log(
      `replica reads: ${stats.replica} served by the replica, ${stats.fallbackLagging} by the primary after ` +
        `the wait, ${stats.fallbackDown} by the primary as the replica failed; waiting for replay ` +
        `${(stats.waitedMs / times.replica.length).toFixed(1)} ms a view on average`,
    );
  } finally {
    for (const stack of stacks.reverse()) await stack.close();
    await pair.stop();
    log(`bench:read-replica — uptime after: load average ${load()}`);
  }
}

await main();
process.exit(0);
