/**
 * `npm run bench:replicas [-- --probes N] [--proxies P] [--deltas-per-second D] [--probe-rows R]`: how
 * long a hit stored through one web replica takes to reach a page on another, beside a page on the replica
 * that stored it as the same-run baseline (`--deltas-per-second` sets the replicas'
 * APISNOOP_LIVE_DELTAS_PER_SECOND;
 * `--probe-rows 300` makes each probe a batch of that many rows, the one on its endpoint and the rest on
 * the busy proxies' ones, so that the adapter carries it through its attachment table, past 8,000 bytes).
 * Three web processes (`apps/web/server.ts`, as `npm start` runs them) on one durable embedded PostgreSQL;
 * each probe is a one-hit batch emitted to replica 1's ingest, on an endpoint of its own, and both pages
 * (Chromium on replica 1 and Chromium on replica 3) paint its arc. For every probe the bench times, on the
 * one clock of this machine:
 *  - emit → ack: replica 1 committed the batch (its transaction, fsync included);
 *  - emit → NOTIFY: the PostgreSQL adapter's notification carrying the commit to the other replicas, heard
 *    by a LISTEN of the bench's own on the adapter's channel;
 *  - emit → delta: the live delta at a Socket.IO client of the bench subscribed as the page is (one per
 *    replica), which is what the page's socket receives;
 *  - emit → pixel: the arc's new value painted (the frame after the DOM change), per page.
 * Twice: quiet (nothing else stored), then busy (P proxies each sending a 1,000-row batch a second to
 * replica 2, so every replica hears large commits through the adapter and every page's deltas are
 * coalesced). Prints the load average before and after. A script, not a test: it prints figures and never
 * fails on them (a refused batch or an unpainted probe is reported, though).
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { startEmbeddedPostgres } from "@apisnoop/db";
import { SHARED_K8S, sharedCatalog } from "@apisnoop/openapi/testing";
import {
  type IngestAck,
  type IngestBatch,
  ingestConnection,
  LIVE_MAX_DELTAS_PER_SECOND,
  LIVE_NAMESPACE,
  type LiveDelta,
  sourceFromUserAgent,
} from "@apisnoop/protocol";
import pg from "pg";
import type { Page } from "playwright-core";
import { io, type Socket } from "socket.io-client";
import { freePort } from "../../../tools/net/free-port";
import { ensureNextBuild } from "../src/server/next-build";
import { launchBrowser, type TestBrowser } from "../src/testing/browser";
import { Child } from "../src/testing/processes";
import { type HitSpec, hitBatch } from "../src/testing/test-stack";
import { startBusyProxies } from "./busy-proxies";

const { values: args } = parseArgs({
  options: {
    probes: { type: "string", default: "40" },
    proxies: { type: "string", default: "3" },
    "deltas-per-second": { type: "string" },
    "probe-rows": { type: "string", default: "1" },
  },
});
/** The replicas' APISNOOP_LIVE_DELTAS_PER_SECOND: unset, their default. */
const DELTAS_PER_SECOND = args["deltas-per-second"];
const PROBES = Number(args.probes);
const PROXIES = Number(args.proxies);
if (!Number.isInteger(PROBES) || PROBES < 5 || PROBES > 200) {
  throw new Error(`--probes is a whole number from 5 to 200, not '${args.probes}'`);
}
const PROBE_ROWS = Number(args["probe-rows"]);
if (!Number.isInteger(PROBE_ROWS) || PROBE_ROWS < 1 || PROBE_ROWS > 10_000) {
  throw new Error(`--probe-rows is a whole number from 1 to 10000, not '${args["probe-rows"]}'`);
}
if (!Number.isInteger(PROXIES) || PROXIES < 0 || PROXIES > 10) {
  throw new Error(`--proxies is a whole number from 0 to 10, not '${args.proxies}'`);
}
const RELEASE = "1.36";
const REPLICAS = 3;
/** Rows of each busy proxy's batch: 40 sources × 25 endpoints, as bench:dashboard's proxies send. */
const PROXY_ROWS = 1000;
/** Between two probes: longer than the live hub's interval, so a probe never waits behind the last one. */
const PROBE_GAP_MS = 600;
/** The adapter's channel for the main namespace (the default prefix of @socket.io/postgres-adapter). */
const ADAPTER_CHANNEL = "socket.io#/";
/** The adapter's table for messages past PostgreSQL's NOTIFY limit (apps/web/src/realtime/replicas.ts). */
const ATTACHMENT_TABLE = `"LiveAttachment"`;

const log = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(", ");

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** `p50 / p95` of a list, or a dash when it is empty. */
function pair(values: number[]): string {
  if (values.length === 0) return "—".padEnd(17);
  return `${percentile(values, 50).toFixed(0).padStart(5)} / ${percentile(values, 95).toFixed(0).padStart(5)} ms`;
}

interface Replica {
  child: Child;
  url: string;
}

/** When each probe's operationId was first seen at one point of the path (epoch ms). */
type Seen = Map<string, number>;

/** A Socket.IO client on a replica's live namespace, subscribed to `query` as the page is. */
async function liveClient(url: string, query: string): Promise<{ seen: Seen; close(): void }> {
  const seen: Seen = new Map();
  const socket: Socket = io(`${url}${LIVE_NAMESPACE}`, { transports: ["websocket"] });
  socket.on("delta", (delta: LiveDelta) => {
    const at = Date.now();
    for (const id of Object.keys(delta.endpoints)) if (!seen.has(id)) seen.set(id, at);
  });
  const answer = (await socket.timeout(30_000).emitWithAck("subscribe", { query })) as { ok: boolean };
  if (!answer.ok) throw new Error(`live subscription refused: ${JSON.stringify(answer)}`);
  return { seen, close: () => socket.disconnect() };
}

/** Opens the overview on `url` and records, per endpoint, when its arc's new hit count was painted. */
async function watchPage(page: Page, url: string): Promise<void> {
  await page.goto(`${url}/?release=${RELEASE}`);
  await page.locator('[data-testid="live-indicator"][data-status="live"]').waitFor();
  await page.evaluate(() => {
    const lit: Record<string, number> = {};
    (window as unknown as { __lit: typeof lit }).__lit = lit;
    const sunburst = document.querySelector("[data-testid=sunburst]") as Element;
    new MutationObserver((mutations) => {
      for (const mutation of mutations) {
        const id = (mutation.target as Element).getAttribute("data-operation-id");
        if (id && !(id in lit)) requestAnimationFrame(() => (lit[id] ??= Date.now()));
      }
    }).observe(sunburst, { subtree: true, attributes: true, attributeFilter: ["data-hits"] });
  });
}

async function paintedAt(page: Page): Promise<Seen> {
  const lit = await page.evaluate(() => (window as unknown as { __lit: Record<string, number> }).__lit);
  return new Map(Object.entries(lit));
}

/** Sends `batch` on an ingest socket and resolves with its ack (after commit). */
const emit = (socket: Socket, batch: IngestBatch) =>
  socket.timeout(30_000).emitWithAck("batch", batch) as Promise<IngestAck>;

interface PhaseResult {
  name: string;
  probes: string[];
  sentAt: Map<string, number>;
  ackAt: Map<string, number>;
  notifyAt: Seen;
  deltaAt: [Seen, Seen];
  pixelAt: [Seen, Seen];
}

async function main(): Promise<void> {
  log(`bench:replicas — uptime before: load average ${load()}`);
  await ensureNextBuild(log);
  const workDir = mkdtempSync(path.join(tmpdir(), "apisnoop-bench-replicas-"));
  chmodSync(workDir, 0o755); // as root, PostgreSQL's owner must reach its data dir
  const postgres = await startEmbeddedPostgres({
    dataDir: path.join(workDir, "pgdata"),
    port: await freePort(),
  });
  const token = crypto.randomUUID();
  const replicas: Replica[] = [];
  const browsers: TestBrowser[] = [];
  const sockets: Socket[] = [];
  const closers: Array<() => void> = [];
  let listener: pg.Client | null = null;
  try {
    for (let i = 1; i <= REPLICAS; i++) {
      const port = await freePort();
      const child = new Child(
        `web-${i}`,
        process.execPath,
        ["--import", "tsx", "apps/web/server.ts"],
        {
          DATABASE_URL: postgres.url,
          APISNOOP_INGEST_TOKEN: token,
          PORT: String(port),
          HOST: "127.0.0.1",
          APISNOOP_REFERENCE_DIR: SHARED_K8S,
          APISNOOP_RELEASES: RELEASE,
          APISNOOP_UPSTREAM_IMPORT: "0",
          ...(DELTAS_PER_SECOND ? { APISNOOP_LIVE_DELTAS_PER_SECOND: DELTAS_PER_SECOND } : {}),
          APISNOOP_CACHE_DIR: path.join(workDir, `cache-${i}`),
          NODE_ENV: "production",
          NEXT_TELEMETRY_DISABLED: "1",
        },
        /serving http/,
      );
      replicas.push({ child, url: `http://127.0.0.1:${port}` });
    }
    // One after the other: the first applies the migrations and loads the release.
    for (const replica of replicas) await replica.child.start();
    const [first, second, third] = replicas as [Replica, Replica, Replica];

    listener = new pg.Client({ connectionString: postgres.url });
    await listener.connect();
    // A message past the adapter's 8,000 bytes is a row of its attachment table, named by the notification:
    // read at once (the adapter deletes rows after 30 s), its MessagePack bytes hold the operationIds as text.
    const reader = new pg.Client({ connectionString: postgres.url });
    await reader.connect();
    closers.push(() => void reader.end());
    const notifications: Array<{ at: number; payload: string }> = [];
    listener.on("notification", (message) => {
      const heard = { at: Date.now(), payload: message.payload ?? "" };
      notifications.push(heard);
      const attachmentId = (JSON.parse(heard.payload) as { attachmentId?: unknown }).attachmentId;
      if (attachmentId === undefined) return;
      reader
        .query<{ payload: Buffer }>(`SELECT payload FROM ${ATTACHMENT_TABLE} WHERE id = $1`, [attachmentId])
        .then(({ rows }) => (heard.payload = rows[0]?.payload.toString("latin1") ?? ""))
        .catch(() => {});
    });
    await listener.query(`LISTEN "${ADAPTER_CHANNEL}"`);

    const ingestOf = (replica: Replica, proxyId: string) => {
      const connection = ingestConnection(replica.url, { token, proxyId });
      const socket: Socket = io(connection.url, connection.options);
      sockets.push(socket);
      return socket;
    };
    const probeSocket = ingestOf(first, "bench-probe");
    const trafficSocket = ingestOf(second, "bench-traffic");
    const operationIds = sharedCatalog(RELEASE).endpoints.map((endpoint) => endpoint.operationId);
    const probeSource = sourceFromUserAgent("bench-probe/1.0");
    // A probe of more rows than its one: the rest from other sources, on the busy proxies' endpoints.
    const fillers = Array.from({ length: 50 }, (_, i) => sourceFromUserAgent(`bench-filler-${i}/1.0`));
    // Every endpoint a probe uses is new to both pages, and the busy proxies use others.
    let nextProbe = 0;
    const trafficEndpoints = operationIds.slice(2 * PROBES);

    const pages: [Page, Page] = [null, null] as unknown as [Page, Page];
    for (const [i, replica] of [first, third].entries()) {
      const browser = await launchBrowser();
      browsers.push(browser);
      pages[i] = browser.page;
      await watchPage(browser.page, replica.url);
    }
    const clients = [
      await liveClient(first.url, `release=${RELEASE}`),
      await liveClient(third.url, `release=${RELEASE}`),
    ];
    for (const client of clients) closers.push(client.close);

    const runPhase = async (name: string): Promise<PhaseResult> => {
      const probes = operationIds.slice(nextProbe, nextProbe + PROBES);
      nextProbe += PROBES;
      const sentAt = new Map<string, number>();
      const ackAt = new Map<string, number>();
      for (const operationId of probes) {
        sentAt.set(operationId, Date.now());
        const rows: HitSpec[] = [[0, operationId, 1]];
        for (let i = 1; i < PROBE_ROWS; i++) {
          rows.push([1 + (i % fillers.length), trafficEndpoints[i % trafficEndpoints.length] as string, 1]);
        }
        // Fillers' sources only when there are filler rows: 50 more sources alone pass 8,000 bytes.
        const sources = PROBE_ROWS > 1 ? [probeSource, ...fillers] : [probeSource];
        const ack = await emit(probeSocket, hitBatch(sources, rows, RELEASE));
        if (!ack.ok) throw new Error(`probe batch refused: ${ack.error}`);
        ackAt.set(operationId, Date.now());
        await sleep(PROBE_GAP_MS);
      }
      await sleep(3000); // the last probes' paints
      const notifyAt: Seen = new Map();
      for (const operationId of probes) {
        // The name whole: listCoreV1Namespace must not match listCoreV1NamespacedPod's message.
        const name = new RegExp(`(?<![A-Za-z])${operationId}(?![A-Za-z0-9])`);
        const heard = notifications.find((n) => name.test(n.payload));
        if (heard) notifyAt.set(operationId, heard.at);
      }
      const copy = (seen: Seen) => new Map([...seen].filter(([id]) => probes.includes(id)));
      return {
        name,
        probes,
        sentAt,
        ackAt,
        notifyAt,
        deltaAt: [copy(clients[0]?.seen as Seen), copy(clients[1]?.seen as Seen)],
        pixelAt: [await paintedAt(pages[0]), await paintedAt(pages[1])].map(copy) as [Seen, Seen],
      };
    };

    log(
      `  ${REPLICAS} web processes on one PostgreSQL; probes emitted to replica 1, pages on replicas 1 and 3; ` +
        `live deltas per second: ${DELTAS_PER_SECOND ?? `${LIVE_MAX_DELTAS_PER_SECOND} (the default)`}; ` +
        `${PROBE_ROWS} row(s) a probe`,
    );
    const results: PhaseResult[] = [];
    results.push(await runPhase("quiet: nothing else stored"));
    report(results.at(-1) as PhaseResult);
    if (PROXIES > 0) {
      const traffic = startBusyProxies({
        proxies: PROXIES,
        rows: PROXY_ROWS,
        // 40 sources a proxy calling 25 endpoints, as bench:dashboard's proxies
        sources: Array.from({ length: PROXIES * 40 }, (_, i) =>
          sourceFromUserAgent(`bench-controller-${i}/1.0`),
        ),
        operationIds: trafficEndpoints,
        endpointStride: 25,
        release: RELEASE,
        send: (batch) => emit(trafficSocket, batch),
      });
      await sleep(2000);
      const busy = await runPhase(
        `busy: ${PROXIES} proxies each storing a ${PROXY_ROWS.toLocaleString("en")}-row batch a second through replica 2`,
      );
      const { acks, refused } = await traffic.stop();
      report(busy);
      log(
        `    the proxies' batches: ${acks.length} acked, emit → ack (commit on 2) p50 / p95 ${pair(acks)}; ${refused} refused`,
      );
    }
    for (const browser of browsers) {
      if (browser.errors.length > 0) log(`  browser errors: ${browser.errors.join("; ")}`);
    }
  } finally {
    for (const close of closers) close();
    for (const socket of sockets) socket.disconnect();
    for (const browser of browsers) await browser.close();
    await listener?.end();
    for (const replica of replicas) await replica.child.kill("SIGTERM");
    await postgres.stop();
    rmSync(workDir, { recursive: true, force: true });
    log(`bench:replicas — uptime after: load average ${load()}`);
  }
}

/** Prints one phase: each hop's p50 / p95 from emit, same replica beside across replicas. */
function report(result: PhaseResult): void {
  const since = (seen: Seen) =>
    result.probes
      .filter((id) => seen.has(id))
      .map((id) => (seen.get(id) as number) - (result.sentAt.get(id) as number));
  const [samePixel, crossPixel] = result.pixelAt;
  const differences = result.probes
    .filter((id) => samePixel.has(id) && crossPixel.has(id))
    .map((id) => (crossPixel.get(id) as number) - (samePixel.get(id) as number));
  log(
    `\n  ${result.name}, ${result.probes.length} probes ${PROBE_GAP_MS} ms apart (load average ${load()}):`,
  );
  log(`    from emit, p50 / p95        same replica (1 → 1)   across replicas (1 → 3)`);
  log(`    → ack (commit on 1)         ${pair(since(result.ackAt))}      (the same batch)`);
  log(`    → adapter NOTIFY heard      ${"".padEnd(17)}      ${pair(since(result.notifyAt))}`);
  log(
    `    → live delta at a socket    ${pair(since(result.deltaAt[0]))}      ${pair(since(result.deltaAt[1]))}`,
  );
  log(`    → arc painted in Chromium   ${pair(since(samePixel))}      ${pair(since(crossPixel))}`);
  const between = (from: Seen, to: Seen) =>
    result.probes
      .filter((id) => from.has(id) && to.has(id))
      .map((id) => (to.get(id) as number) - (from.get(id) as number));
  log(
    `    per hop across replicas, p50 / p95: ack → NOTIFY ${pair(between(result.ackAt, result.notifyAt))}, ` +
      `NOTIFY → delta ${pair(between(result.notifyAt, result.deltaAt[1]))}, ` +
      `delta → pixel ${pair(between(result.deltaAt[1], crossPixel))}`,
  );
  log(
    `    per hop on the same replica: ack → delta ${pair(between(result.ackAt, result.deltaAt[0]))}, ` +
      `delta → pixel ${pair(between(result.deltaAt[0], samePixel))}`,
  );
  const first = result.probes[0] as string;
  const firstOf = (seen: Seen) =>
    seen.has(first) ? `${(seen.get(first) as number) - (result.sentAt.get(first) as number)} ms` : "never";
  log(
    `    the phase's first probe: ack ${firstOf(result.ackAt)}, pixel ${firstOf(samePixel)} same, ` +
      `${firstOf(crossPixel)} across`,
  );
  log(
    `    painted: ${samePixel.size}/${result.probes.length} on replica 1, ${crossPixel.size}/${result.probes.length} on replica 3`,
  );
  log(
    `    across minus same, per probe (pixel): p50 ${percentile(differences, 50).toFixed(0)} ms, ` +
      `p95 ${percentile(differences, 95).toFixed(0)} ms; cross-replica pixel p95 ÷ same-replica p95: ` +
      `${(percentile(since(crossPixel), 95) / percentile(since(samePixel), 95)).toFixed(2)}×`,
  );
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`bench:replicas: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
