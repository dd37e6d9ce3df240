/**
 * `npm run bench:dashboard [-- --hits 100m|10m] [--replicas N]`: the dashboard under many clusters' load —
 * rollups of 100,000,000 hits over the ~900 endpoints of 1.36 from 2,000 sources (`--hits 10m`: the
 * earlier 10,000,000 from 200 sources, a tenth of the rows), in a real PostgreSQL (embedded, or a scratch
 * database on DATABASE_URL's server), stored through the real ingest namespace of replica 1, while the
 * API client and the browser use replica N (default 2: a second web process on the same database, which
 * hears replica 1's commits through the PostgreSQL adapter; `--replicas 1`: one process). Prints
 * `replicas: N`, then:
 *  - /api/v1/coverage latency with filters the cache has not seen (every request a query) and cached,
 *    against the same server answering a bad filter (400: routing without data) as the baseline, timed by a
 *    client on its own thread;
 *  - the first page load in Chromium (navigation to a drawn sunburst), against loading /icon.svg;
 *  - hit-to-pixel: from emitting a batch to the arc's new value painted in Chromium, while five proxies
 *    send their batches, with what each probe waited for.
 * `--reuse DIR` keeps the seeded database in DIR (an embedded PostgreSQL per seed, keyed by the seed's
 * parameters and the migrations: `seeded-database.ts`) and copies it for each run, so a run after the
 * first skips the seed (~30 min at 100 M) and costs minutes; the time windows are then relative to the
 * seed's minute, not the clock, so every run reads the same rows. `--seed-only` (with `--reuse DIR`)
 * makes the kept seed and exits: heavy preparation, which can run niced outside a benchmark lock.
 * A script, not a test: it prints figures and never fails on them (a refused batch is an error, though).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { SHARED_K8S, sharedCatalog } from "@apisnoop/openapi/testing";
import { type IngestBatch, PROTOCOL_VERSION, type Source, sourceFromUserAgent } from "@apisnoop/protocol";
import { freePort } from "../../../tools/net/free-port";
import { ensureNextBuild } from "../src/server/next-build";
import { launchBrowser } from "../src/testing/browser";
import { Child } from "../src/testing/processes";
import { hitBatch, startTestStack, type TestStack } from "../src/testing/test-stack";
import { startBusyProxies } from "./busy-proxies";
import { openSeededDatabase, type SeededDatabase, type SeedRecord } from "./seeded-database";

const { values: args } = parseArgs({
  options: {
    hits: { type: "string", default: "100m" },
    replicas: { type: "string", default: "2" },
    reuse: { type: "string" },
    "seed-only": { type: "boolean", default: false },
  },
});
if (args["seed-only"] && !args.reuse) throw new Error("--seed-only needs --reuse DIR: it keeps the seed");
/** The two scales: 10× the hits is 10× the sources, so 10× the rollup rows, not bigger counts. */
const SCALES = {
  "10m": { hits: 10_000_000, sources: 200 },
  "100m": { hits: 100_000_000, sources: 2_000 },
} as const;
if (!(args.hits in SCALES)) throw new Error(`--hits is 100m or 10m, not '${args.hits}'`);
const SCALE = SCALES[args.hits as keyof typeof SCALES];
const REPLICAS = Number(args.replicas);
if (!Number.isInteger(REPLICAS) || REPLICAS < 1 || REPLICAS > 8) {
  throw new Error(`--replicas is a whole number from 1 to 8, not '${args.replicas}'`);
}
const TOTAL_HITS = SCALE.hits;
const SOURCES = SCALE.sources;
/** The sources whose views are timed (and that the live proxies send as): the same at every scale. */
const TIMED_SOURCES = 200;
const ENDPOINTS_PER_SOURCE = 150;
const MINUTES = 12;
const ROWS_PER_BATCH = 20_000;

const log = (line: string) => process.stdout.write(`${line}\n`);
const ms = (value: number) => `${value.toFixed(1)} ms`;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/**
 * An HTTP client on its own thread, as an API consumer is another process: its fetch, gunzip and body
 * reading then do not run on the server's event loop and count as server latency. `get` resolves with
 * the request's duration in milliseconds, timed on the client's thread.
 */
class ApiClient {
  private readonly worker: Worker;
  private pending: ((ms: number) => void) | null = null;

  constructor(private readonly base: string) {
    this.worker = new Worker(
      `const { parentPort } = require("node:worker_threads");
       parentPort.on("message", async (url) => {
         const start = performance.now();
         const response = await fetch(url);
         await response.arrayBuffer();
         parentPort.postMessage(response.ok || response.status === 400 ? performance.now() - start : -response.status);
       });`,
      { eval: true },
    );
    this.worker.on("message", (ms: number) => {
      if (ms < 0) throw new Error(`the API answered ${-ms}`);
      this.pending?.(ms);
    });
  }

  get(path: string): Promise<number> {
    return new Promise((resolve) => {
      this.pending = resolve;
      this.worker.postMessage(`${this.base}${path}`);
    });
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}

/** `SOURCES` sources: charts' pods, operators, kubectl users and e2e tests, like busy clusters'. */
function makeSources(): Source[] {
  return Array.from({ length: SOURCES }, (_, i) => {
    const kind = i % 4;
    if (kind === 0) {
      return {
        ...sourceFromUserAgent(`controller-${i}/v1.${i % 9}.0 (linux/amd64)`),
        chart: `chart-${i % 40}-1.${i % 5}.0`,
        namespace: `ns-${i % 25}`,
        pod: `pod-${i}`,
        serviceAccount: `sa-${i % 30}`,
      };
    }
    if (kind === 1) return sourceFromUserAgent(`e2e.test/v1.36.0 -- [sig-apps] test ${i} [Conformance]`);
    if (kind === 2)
      return { ...sourceFromUserAgent(`operator-${i}/2.0`), namespace: `ns-${i % 25}`, pod: `op-${i}` };
    return sourceFromUserAgent(`kubectl/v1.36.${i % 4} (linux/amd64) kubernetes/abc`);
  });
}

/** The seed: every source hits 150 endpoints in each of 12 hourly minutes, counts summing to TOTAL_HITS. */
function* seedBatches(sources: Source[], operationIds: string[], now: number): Generator<IngestBatch> {
  const rows = SOURCES * ENDPOINTS_PER_SOURCE * MINUTES;
  const perRow = Math.floor(TOTAL_HITS / rows);
  let remainder = TOTAL_HITS - perRow * rows;
  let batch: IngestBatch | null = null;
  for (let s = 0; s < SOURCES; s++) {
    for (let e = 0; e < ENDPOINTS_PER_SOURCE; e++) {
      const operationId = operationIds[(s * 37 + e * 11) % operationIds.length] as string;
      for (let m = 0; m < MINUTES; m++) {
        batch ??= {
          protocol: PROTOCOL_VERSION,
          batchId: crypto.randomUUID(),
          proxyId: "bench",
          release: "1.36",
          sentAt: Date.now(),
          sources,
          hits: [],
          unknownCalls: [],
          fields: [],
        };
        const extra = remainder > 0 ? 1 : 0;
        remainder -= extra;
        batch.hits.push({
          source: s,
          operationId,
          method: "GET",
          statusClass: (s + e + m) % 10 === 0 ? "4xx" : "2xx",
          minute: now - m * 60,
          count: perRow + extra,
          details: {},
        });
        if (batch.hits.length >= ROWS_PER_BATCH) {
          yield batch;
          batch = null;
        }
      }
    }
  }
  if (batch) yield batch;
}

const PROXIES = 5;
const PROXY_ROWS = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** A web process the browser and the API client use; replica 1 (in this process) takes the ingest. */
interface Reader {
  url: string;
  /** Makes the reader forget its cached views, as an ingest commit on another replica does. */
  forget(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Replicas 2..N as `npm start` runs them (`apps/web/server.ts`), each its own process on the stack's
 * database; the last one is the reader. With one replica, the reader is replica 1 itself.
 */
async function startReaders(stack: TestStack, replicas: number): Promise<Reader> {
  if (replicas === 1) {
    return { url: stack.url, forget: async () => stack.app.data.invalidate(), close: async () => {} };
  }
  const cacheDir = mkdtempSync(path.join(tmpdir(), "apisnoop-bench-replicas-"));
  const children: Child[] = [];
  let url = "";
  for (let i = 2; i <= replicas; i++) {
    const port = await freePort();
    const child = new Child(
      `web-${i}`,
      process.execPath,
      ["--import", "tsx", "apps/web/server.ts"],
      {
        DATABASE_URL: stack.app.database.url,
        APISNOOP_INGEST_TOKEN: stack.token,
        PORT: String(port),
        HOST: "127.0.0.1",
        APISNOOP_REFERENCE_DIR: SHARED_K8S,
        APISNOOP_RELEASES: "1.36",
        APISNOOP_UPSTREAM_IMPORT: "0",
        APISNOOP_CACHE_DIR: path.join(cacheDir, `cache-${i}`),
        NODE_ENV: "production",
        NEXT_TELEMETRY_DISABLED: "1",
      },
      /serving http/,
    );
    await child.start();
    children.push(child);
    url = `http://127.0.0.1:${port}`;
  }
  // A marker source only this function sends as: once the reader counts a marker hit, the commit's
  // notification reached it and every view it had cached is gone.
  const marker = sourceFromUserAgent("bench-marker/1.0");
  let markers = 0;
  return {
    url,
    async forget() {
      markers++;
      const ack = await stack.ingest(hitBatch([marker], [[0, "readCoreV1Namespace", 1]], "1.36"));
      if (!ack.ok) throw new Error(`marker batch refused: ${ack.error}`);
      for (let polls = 0; ; polls++) {
        const response = await fetch(`${url}/api/v1/coverage?release=1.36&userAgent=bench-marker`);
        const report = (await response.json()) as { endpoints: Array<{ operationId: string; hits: number }> };
        const hits = report.endpoints.find((e) => e.operationId === "readCoreV1Namespace")?.hits ?? 0;
        if (hits >= markers) return;
        if (polls > 1000) throw new Error("the reader never saw replica 1's commit");
        await sleep(10);
      }
    },
    async close() {
      for (const child of children) await child.kill("SIGTERM");
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

/** The seed's parameters: a kept seed is reused only for the same ones (and the same migrations). */
const SEED_PARAMETERS = {
  hits: TOTAL_HITS,
  sources: SOURCES,
  endpointsPerSource: ENDPOINTS_PER_SOURCE,
  minutes: MINUTES,
  release: "1.36",
};

/**
 * Seeds `stack`'s database through the ingest namespace, as proxies would, then VACUUM ANALYZEs it: after
 * a bulk load PostgreSQL's autovacuum analyses and vacuums the new rows, for a minute or more on two
 * cores; done before measuring, so the figures are a running dashboard's steady state rather than that
 * of a vacuum running beside it.
 */
async function seed(stack: TestStack, sources: Source[], operationIds: string[]): Promise<SeedRecord> {
  const anchorMinute = Math.floor(Date.now() / 60_000);
  let rows = 0;
  let batches = 0;
  const startedAt = Date.now();
  const seedMs = await timed(async () => {
    for (const batch of seedBatches(sources, operationIds, anchorMinute)) {
      const ack = await stack.ingest(batch);
      if (!ack.ok) throw new Error(`seed batch refused: ${ack.error}`);
      rows += batch.hits.length;
      batches++;
      // Progress, so a long seed's end can be told early: rows so far and the rate since the start.
      if (batches % 10 === 0) {
        const seconds = (Date.now() - startedAt) / 1000;
        log(
          `  seed: ${rows.toLocaleString("en")} rows in ${seconds.toFixed(0)} s (${Math.round(rows / seconds)} rows/s)`,
        );
      }
    }
  });
  const vacuumMs = await timed(() => stack.app.database.prisma.$executeRawUnsafe("VACUUM ANALYZE"));
  return { anchorMinute, rows, batches, seedMs, vacuumMs };
}

async function main(): Promise<void> {
  await ensureNextBuild(log);
  const kept: SeededDatabase | null = args.reuse
    ? await openSeededDatabase(args.reuse, SEED_PARAMETERS)
    : null;
  const catalog = sharedCatalog("1.36");
  const operationIds = catalog.endpoints.map((e) => e.operationId);
  const sources = makeSources();
  let stack: TestStack;
  let record: SeedRecord;
  const reused = kept?.record != null;
  if (kept?.record && args["seed-only"]) {
    log(`${kept.folder} is seeded already`);
    await kept.stop();
    return;
  }
  if (kept?.record) {
    log(`reusing the seed in ${kept.folder}: copying it for this run…`);
    record = kept.record;
    stack = await startTestStack("1.36", {}, { databaseUrl: await kept.copyForRun() });
  } else if (kept) {
    log(`seeding ${kept.folder} (kept for later runs)…`);
    const seeding = await startTestStack("1.36", {}, { databaseUrl: kept.seededUrl });
    try {
      record = await seed(seeding, sources, operationIds);
    } finally {
      await seeding.close();
    }
    kept.finish(record);
    if (args["seed-only"]) {
      await kept.stop();
      log(
        `seeded in ${(record.seedMs / 1000).toFixed(1)} s, VACUUM ANALYZE ${(record.vacuumMs / 1000).toFixed(1)} s`,
      );
      return;
    }
    stack = await startTestStack("1.36", {}, { databaseUrl: await kept.copyForRun() });
  } else {
    log("starting the dashboard on a fresh database…");
    stack = await startTestStack("1.36");
    record = await seed(stack, sources, operationIds).catch(async (error) => {
      await stack.close();
      throw error;
    });
  }
  const browser = await launchBrowser();
  let reader: Reader | null = null;
  try {
    const { rows, batches, seedMs, vacuumMs } = record;
    log(
      `\nbench:dashboard — ${TOTAL_HITS.toLocaleString("en")} hits in ${rows.toLocaleString("en")} rollup rows ` +
        `(${operationIds.length} endpoints of 1.36 × ${SOURCES} sources × ${MINUTES} minutes)`,
    );
    log(
      `  seed via ingest${reused ? " (kept: the first run's figures)" : ""}: ${batches} batches in ${(seedMs / 1000).toFixed(1)} s ` +
        `(${Math.round(rows / (seedMs / 1000)).toLocaleString("en")} rollup rows/s, acked after commit)`,
    );
    log(`  VACUUM ANALYZE after the seed: ${(vacuumMs / 1000).toFixed(1)} s`);
    await logStorage(stack);

    reader = await startReaders(stack, REPLICAS);
    log(
      `  replicas: ${REPLICAS} (ingest on replica 1${REPLICAS > 1 ? `, the API client and the browser on replica ${REPLICAS}, its own process` : ""})`,
    );

    // Windows relative to the seed's minute (a kept seed's rows are as old as the seed).
    const ago = (hours: number) => new Date((record.anchorMinute - hours * 60) * 60_000).toISOString();
    // /api/v1/coverage: a distinct filter set per request, so each one is a query.
    const queries: string[] = [];
    for (let i = 0; i < TIMED_SOURCES; i++) {
      const source = sources[i] as Source;
      const filter = source.chart
        ? `chart=${encodeURIComponent(source.chart.replace(/-1\.\d\.0$/, ""))}`
        : source.e2eTest
          ? `e2eTest=${encodeURIComponent(source.e2eTest)}`
          : `userAgent=${encodeURIComponent(source.userAgent.split(" ")[0] ?? "")}`;
      const variants = [
        "",
        "&outcome=2xx",
        "&level=stable",
        `&from=${ago(6)}`,
        `&from=${ago(1)}&outcome=2xx`,
      ];
      queries.push(`${filter}${variants[i % variants.length]}`);
    }
    // Every source at once: no filter, and time windows over all sources (the per-endpoint rollups).
    queries.push(
      "",
      "outcome=2xx",
      "level=beta",
      `from=${ago(24)}`,
      `from=${ago(6)}`,
      `from=${ago(3)}&to=${ago(1)}`,
    );
    const client = new ApiClient(reader.url);
    const get = (path: string) => client.get(path);
    // Warm-up on a view none of the timed ones is, so each timed one is its first request on the reader.
    for (let i = 0; i < 5; i++)
      await get(`/api/v1/coverage?release=1.36&level=alpha${i % 2 ? "&outcome=2xx" : ""}`);
    const uncached: number[] = [];
    // By kind: which filters are set ("chart&from&outcome"), so a slow kind shows through the p95.
    const byKind = new Map<string, number[]>();
    for (const query of queries) {
      // Each filter set is new to the reader, so each request queries PostgreSQL.
      if (REPLICAS === 1) stack.app.data.invalidate();
      const took = await get(`/api/v1/coverage?release=1.36&${query}`);
      uncached.push(took);
      const kind = query.replace(/=[^&]*/g, "") || "(no filter)";
      byKind.set(kind, [...(byKind.get(kind) ?? []), took]);
    }
    // The same views from replica 1's data layer alone, in this process: what HTTP, JSON and gzip add.
    const dataLayer: number[] = [];
    for (const query of queries) {
      stack.app.data.invalidate();
      const parsed = stack.app.data.parseFilters(new URLSearchParams(`release=1.36&${query}`));
      if (!parsed.ok) throw new Error(parsed.error);
      const filters = parsed.filters;
      dataLayer.push(await timed(() => stack.app.data.coverage(filters)));
    }
    const cached: number[] = [];
    for (let i = 0; i < 200; i++) cached.push(await get("/api/v1/coverage?release=1.36&outcome=2xx"));
    const baseline: number[] = [];
    for (let i = 0; i < 200; i++) baseline.push(await get("/api/v1/coverage?level=nope"));
    await client.close();
    const base95 = percentile(baseline, 95);
    log("  /api/v1/coverage (target p95 ≤ 50 ms):");
    log(
      `    uncached, ${uncached.length} distinct filter sets: p50 ${ms(percentile(uncached, 50))}, p95 ${ms(percentile(uncached, 95))}` +
        ` (${(percentile(uncached, 95) / base95).toFixed(1)}× baseline)`,
    );
    for (const [kind, times] of byKind) {
      log(
        `      ${kind.padEnd(22)} ${String(times.length).padStart(3)}×: p50 ${ms(percentile(times, 50))}, p95 ${ms(percentile(times, 95))}`,
      );
    }
    log(
      `    the same views from the data layer alone (no HTTP, JSON or gzip): p50 ${ms(percentile(dataLayer, 50))}, p95 ${ms(percentile(dataLayer, 95))}`,
    );
    log(
      `    cached (same filters, no ingest in between): p50 ${ms(percentile(cached, 50))}, p95 ${ms(percentile(cached, 95))}` +
        ` (${(percentile(cached, 95) / base95).toFixed(1)}× baseline)`,
    );
    log(`    baseline, a 400 for a bad filter (routing, no query): p95 ${ms(base95)}`);

    // First page load in Chromium: navigation until the sunburst has all its arcs.
    const { page, context } = browser;
    const readerUrl = reader.url;
    const loads: number[] = [];
    const iconLoads: number[] = [];
    for (let i = 0; i < 7; i++) {
      await context.clearCookies();
      await page.goto("about:blank");
      const cdp = await context.newCDPSession(page);
      await cdp.send("Network.clearBrowserCache");
      await cdp.detach();
      iconLoads.push(await timed(() => page.goto(`${readerUrl}/icon.svg?i=${i}`)));
      await page.goto("about:blank");
      await reader.forget(); // nothing cached on the server either: the page queries PostgreSQL
      loads.push(
        await timed(async () => {
          await page.goto(`${readerUrl}/?release=1.36`);
          await page.waitForFunction(
            (n) => document.querySelectorAll("path[data-operation-id]").length === n,
            operationIds.length,
          );
        }),
      );
    }
    log("  first page load, Chromium and server caches empty (target ≤ 1.5 s):");
    log(
      `    overview with ${operationIds.length} arcs drawn: median ${ms(percentile(loads, 50))}, worst ${ms(Math.max(...loads))}` +
        ` (${(percentile(loads, 50) / percentile(iconLoads, 50)).toFixed(1)}× baseline)`,
    );
    log(`    baseline, /icon.svg: median ${ms(percentile(iconLoads, 50))}`);

    // Hit-to-pixel: emit a batch, wait for the arc's new value to be painted (rAF after the DOM change).
    // Besides the latencies, the page records what could hold a paint back: the live indicator's status
    // changes (a dropped socket), server reloads of the page's data (a gap in the deltas) and the times
    // the hits counter moved (deltas arriving at all).
    let reloads = 0; // server renders of the page's data, not Link prefetches (they carry no data)
    page.on("request", (request) => {
      const headers = request.headers();
      if (headers.rsc === "1" && !headers["next-router-prefetch"]) reloads++;
    });
    await page.goto(`${readerUrl}/?release=1.36`);
    await page.locator('[data-testid="live-indicator"][data-status="live"]').waitFor();
    await page.evaluate(() => {
      const probe = { lit: {} as Record<string, number>, statuses: [] as string[], deltas: [] as number[] };
      (window as unknown as { __probe: typeof probe }).__probe = probe;
      const sunburst = document.querySelector("[data-testid=sunburst]") as Element;
      new MutationObserver((mutations) => {
        for (const mutation of mutations) {
          const id = (mutation.target as Element).getAttribute("data-operation-id");
          if (id && !(id in probe.lit)) requestAnimationFrame(() => (probe.lit[id] = Date.now()));
        }
      }).observe(sunburst, { subtree: true, attributes: true, attributeFilter: ["data-hits"] });
      const indicator = document.querySelector('[data-testid="live-indicator"]') as Element;
      new MutationObserver(() =>
        probe.statuses.push(`${indicator.getAttribute("data-status")}@${Date.now()}`),
      ).observe(indicator, { attributes: true, attributeFilter: ["data-status"] });
      const counter = document.querySelector('[data-testid="figure-hits"]') as Element;
      new MutationObserver(() => probe.deltas.push(Date.now())).observe(counter, {
        subtree: true,
        childList: true,
        characterData: true,
      });
    });
    // Probes and proxies' traffic on different endpoints, so that an arc changes only for its probe.
    const probes = operationIds.slice(0, 60);
    const startedAt = Date.now();
    const traffic = startBusyProxies({
      proxies: PROXIES,
      rows: PROXY_ROWS,
      sources: sources.slice(0, TIMED_SOURCES),
      operationIds: operationIds.slice(probes.length),
      endpointStride: 50,
      release: "1.36",
      statusClass: (row) => (row % 10 === 0 ? "4xx" : "2xx"),
      send: stack.ingest,
    });
    const sentAt: Record<string, number> = {};
    const ackMs: Record<string, number> = {};
    const probe = sourceFromUserAgent("bench-probe/1.0");
    for (const operationId of probes) {
      sentAt[operationId] = Date.now();
      const ack = await stack.ingest(hitBatch([probe], [[0, operationId, 1]], "1.36"));
      if (!ack.ok) throw new Error(`probe batch refused: ${ack.error}`);
      ackMs[operationId] = Date.now() - (sentAt[operationId] as number);
      await sleep(150);
    }
    await sleep(1500);
    const { acks: trafficAcks, refused } = await traffic.stop();
    const seen = await page.evaluate(
      () =>
        (
          window as unknown as {
            __probe: { lit: Record<string, number>; statuses: string[]; deltas: number[] };
          }
        ).__probe,
    );
    const latencies = probes
      .filter((id) => seen.lit[id] !== undefined)
      .map((id) => (seen.lit[id] as number) - (sentAt[id] as number));
    const acks = Object.values(ackMs);
    const deltaGaps = seen.deltas.slice(1).map((t, i) => t - (seen.deltas[i] as number));
    const missed = probes.filter((id) => seen.lit[id] === undefined);
    log(
      `  hit-to-pixel, Chromium, while ${PROXIES} proxies each send a ${PROXY_ROWS.toLocaleString("en")}-row batch a second (target p95 ≤ 500 ms):`,
    );
    log(
      `    ${latencies.length}/${probes.length} probes painted: p50 ${ms(percentile(latencies, 50))}, p95 ${ms(percentile(latencies, 95))}, ` +
        `worst ${ms(Math.max(...latencies))} (emit → ack → delta → React render → next frame)`,
    );
    log(
      `    of which emit → ack (commit): p50 ${ms(percentile(acks, 50))}, p95 ${ms(percentile(acks, 95))}, worst ${ms(Math.max(...acks))}; ` +
        `${seen.deltas.length} counter updates, longest quiet ${ms(Math.max(0, ...deltaGaps))}; ` +
        `live status changes: ${seen.statuses.map((s) => s.replace(/@(\d+)/, (_, t) => ` at ${((Number(t) - startedAt) / 1000).toFixed(1)} s`)).join(", ") || "none"}; ` +
        `data reloads: ${reloads}`,
    );
    log(
      `    the proxies' batches: ${trafficAcks.length} acked, p50 ${ms(percentile(trafficAcks, 50))}, p95 ${ms(percentile(trafficAcks, 95))}; ${refused} refused`,
    );
    if (missed.length > 0) {
      log(
        `    not painted: ${missed.map((id) => `${id} (sent at ${(((sentAt[id] as number) - startedAt) / 1000).toFixed(1)} s, ack ${ms(ackMs[id] as number)})`).join(", ")}`,
      );
    }
  } finally {
    await browser.close();
    await reader?.close();
    await stack.close();
    await kept?.stop();
  }
}

/** The tables a hit is stored in: minute, hour and day rollups, per-endpoint, per-source and per-chart, totals. */
const HIT_TABLES = [
  "HitRollup",
  "HitRollupHour",
  "HitRollupDay",
  "HitTotal",
  "EndpointRollup",
  "EndpointTotal",
  "SourceRollup",
  "SourceTotal",
  "ChartRollup",
];

/**
 * Rows (counted) and bytes (heap, indexes, TOAST; every partition at every level, or the table itself
 * when it is not partitioned) of the tables a hit is stored in: what a day of many clusters' traffic
 * would cost, per row.
 */
async function logStorage(stack: TestStack): Promise<void> {
  const { prisma } = stack.app.database;
  log("  storage after the seed (bytes with indexes, every partition):");
  for (const table of HIT_TABLES) {
    const [size] = await prisma.$queryRawUnsafe<Array<{ rows: number; bytes: number }>>(
      `SELECT (SELECT count(*) FROM "${table}")::float8 AS rows,
              coalesce((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('"${table}"')),
                       pg_total_relation_size('"${table}"'))::float8 AS bytes`,
    );
    if (!size) continue;
    const perRow = size.rows > 0 ? ` = ${Math.round(size.bytes / size.rows)} B a row` : "";
    log(
      `    ${table.padEnd(14)} ${size.rows.toLocaleString("en").padStart(11)} rows ${(size.bytes / 2 ** 20).toFixed(1).padStart(8)} MiB${perRow}`,
    );
  }
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`bench:dashboard: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
