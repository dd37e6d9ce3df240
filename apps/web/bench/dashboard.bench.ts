/**
 * `npm run bench:dashboard`: the dashboard under a large cluster's load — rollups of 10,000,000 hits over the
 * ~900 endpoints of 1.36 and 200 sources, in a real PostgreSQL (embedded, or a scratch database on
 * DATABASE_URL's server), stored through the real ingest namespace. Prints:
 *  - /api/v1/coverage latency with filters the cache has not seen (every request a query) and cached,
 *    against the same server answering a bad filter (400: routing without data) as the baseline, timed by a
 *    client on its own thread;
 *  - the first page load in Chromium (navigation to a drawn sunburst), against loading /icon.svg;
 *  - hit-to-pixel: from emitting a batch to the arc's new value painted in Chromium, while five proxies
 *    send their batches, with what each probe waited for.
 * A script, not a test: it prints figures and never fails on them (a refused batch is an error, though).
 */
import { Worker } from "node:worker_threads";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { type IngestBatch, PROTOCOL_VERSION, type Source, sourceFromUserAgent } from "@apisnoop/protocol";
import { ensureNextBuild } from "../src/server/next-build";
import { launchBrowser } from "../src/testing/browser";
import { type HitSpec, hitBatch, startTestStack, type TestStack } from "../src/testing/test-stack";

const TOTAL_HITS = 10_000_000;
const SOURCES = 200;
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

/** 200 sources: charts' pods, operators, kubectl users and e2e tests, like a busy cluster's. */
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

/** The seed: every source hits 150 endpoints in each of 12 hourly minutes, counts summing to 10M. */
function* seedBatches(sources: Source[], operationIds: string[]): Generator<IngestBatch> {
  const now = Math.floor(Date.now() / 60_000);
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

/**
 * Live traffic beside the probes: `PROXIES` proxies, each sending what the uplink sends, a batch of this
 * minute's hits every second (its own 40 sources calling 25 endpoints, as controllers poll the same
 * ones), the next one only after the previous one's ack.
 * `stop()` ends it and resolves with each batch's emit-to-ack time and the number refused.
 */
function streamProxies(stack: TestStack, sources: Source[], operationIds: string[]) {
  const acks: number[] = [];
  let refused = 0;
  let stopped = false;
  const perProxy = sources.length / PROXIES;
  const proxies = Array.from({ length: PROXIES }, async (_, p) => {
    await sleep((p * 1000) / PROXIES); // spread over the second, as independent proxies are
    for (let round = 0; !stopped; round++) {
      const started = Date.now();
      const rows = Array.from(
        { length: PROXY_ROWS },
        (_, i): HitSpec => [
          p * perProxy + (i % perProxy),
          operationIds[(p * 50 + Math.floor(i / perProxy)) % operationIds.length] as string,
          1 + ((round + i) % 5),
          i % 10 === 0 ? "4xx" : "2xx",
        ],
      );
      const ack = await stack.ingest(hitBatch(sources, rows, "1.36")).catch(() => null);
      if (ack?.ok) acks.push(Date.now() - started);
      else refused++;
      await sleep(1000 - (Date.now() - started));
    }
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(proxies);
      return { acks, refused };
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function main(): Promise<void> {
  await ensureNextBuild(log);
  log("starting the dashboard on a fresh database…");
  const stack = await startTestStack("1.36");
  const browser = await launchBrowser();
  try {
    const catalog = sharedCatalog("1.36");
    const operationIds = catalog.endpoints.map((e) => e.operationId);
    const sources = makeSources();

    // Seed through the ingest namespace, as proxies would.
    let rows = 0;
    let batches = 0;
    const seedMs = await timed(async () => {
      for (const batch of seedBatches(sources, operationIds)) {
        const ack = await stack.ingest(batch);
        if (!ack.ok) throw new Error(`seed batch refused: ${ack.error}`);
        rows += batch.hits.length;
        batches++;
      }
    });
    log(
      `\nbench:dashboard — ${TOTAL_HITS.toLocaleString("en")} hits in ${rows.toLocaleString("en")} rollup rows ` +
        `(${operationIds.length} endpoints of 1.36 × ${SOURCES} sources × ${MINUTES} minutes)`,
    );
    log(
      `  seed via ingest: ${batches} batches in ${(seedMs / 1000).toFixed(1)} s ` +
        `(${Math.round(rows / (seedMs / 1000)).toLocaleString("en")} rollup rows/s, acked after commit)`,
    );

    // After a bulk load PostgreSQL's autovacuum analyses and vacuums the new rows, for a minute or more on
    // two cores; done here before measuring, so that the figures are a running dashboard's steady state
    // rather than that of a vacuum running beside it.
    const vacuumMs = await timed(() => stack.app.database.prisma.$executeRawUnsafe("VACUUM ANALYZE"));
    log(`  VACUUM ANALYZE after the seed: ${(vacuumMs / 1000).toFixed(1)} s`);

    // /api/v1/coverage: a distinct filter set per request, so each one is a query.
    const queries: string[] = [];
    for (let i = 0; i < SOURCES; i++) {
      const source = sources[i] as Source;
      const filter = source.chart
        ? `chart=${encodeURIComponent(source.chart.replace(/-1\.\d\.0$/, ""))}`
        : source.e2eTest
          ? `e2eTest=${encodeURIComponent(source.e2eTest)}`
          : `userAgent=${encodeURIComponent(source.userAgent.split(" ")[0] ?? "")}`;
      const variants = ["", "&outcome=2xx", "&level=stable", "&from=6h", "&from=1h&outcome=2xx"];
      queries.push(`${filter}${variants[i % variants.length]}`);
    }
    queries.push("", "outcome=2xx", "level=beta", "from=24h", "from=3h&to=1h");
    const client = new ApiClient(stack.url);
    const get = (path: string) => client.get(path);
    for (let i = 0; i < 5; i++) await get(`/api/v1/coverage?release=1.36&level=${["stable", "beta"][i % 2]}`);
    const uncached: number[] = [];
    // By kind: which filters are set ("chart&from&outcome"), so a slow kind shows through the p95.
    const byKind = new Map<string, number[]>();
    for (const query of queries) {
      stack.app.data.invalidate(); // as after an ingest commit: the next request queries PostgreSQL
      const took = await get(`/api/v1/coverage?release=1.36&${query}`);
      uncached.push(took);
      const kind = query.replace(/=[^&]*/g, "") || "(no filter)";
      byKind.set(kind, [...(byKind.get(kind) ?? []), took]);
    }
    // The same views from the data layer alone, in the server's process: what HTTP, JSON and gzip add.
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
    const loads: number[] = [];
    const iconLoads: number[] = [];
    for (let i = 0; i < 7; i++) {
      await context.clearCookies();
      await page.goto("about:blank");
      const cdp = await context.newCDPSession(page);
      await cdp.send("Network.clearBrowserCache");
      await cdp.detach();
      iconLoads.push(await timed(() => page.goto(`${stack.url}/icon.svg?i=${i}`)));
      await page.goto("about:blank");
      stack.app.data.invalidate(); // nothing cached on the server either: the page queries PostgreSQL
      loads.push(
        await timed(async () => {
          await page.goto(`${stack.url}/?release=1.36`);
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
    await page.goto(`${stack.url}/?release=1.36`);
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
    const traffic = streamProxies(stack, sources, operationIds.slice(probes.length));
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
    await stack.close();
  }
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`bench:dashboard: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
