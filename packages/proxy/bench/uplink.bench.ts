/**
 * `npm run bench:uplink [-- --hits N]`: how long a counted hit waits in the proxy's uplink before the web
 * app has it, with the quiet flush (the first hit after a quiet spell cut into a batch 25 ms later) and,
 * as the same-run baseline, without it (every hit waits for the next 1 s tick). The web app is a Socket.IO
 * ingest server in this process that acks each batch at once, so the figures are the uplink's own wait
 * (the journal, the batch's fsync'd spool file, the send) and nothing of the database's.
 * Twice per setting: quiet (one hit every 1.5 s, as a person's kubectl calls) and steady (a hit every
 * 5 ms for 10 s, as a controller's), where it also counts the batches: steady traffic must still go one
 * batch a second. A script, not a test: it prints figures and never fails on them.
 */
import fs from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  decodeIngestBatch,
  type Hit,
  INGEST_MAX_MESSAGE_BYTES,
  INGEST_NAMESPACE,
  INGEST_PATH,
  type IngestAck,
  sourceFromUserAgent,
} from "@apisnoop/protocol";
import { Server } from "socket.io";
import { Uplink } from "../src/uplink/uplink";

const { values: args } = parseArgs({ options: { hits: { type: "string", default: "12" } } });
const QUIET_HITS = Number(args.hits);
if (!Number.isInteger(QUIET_HITS) || QUIET_HITS < 5 || QUIET_HITS > 200) {
  throw new Error(`--hits is a whole number from 5 to 200, not '${args.hits}'`);
}
const TOKEN = "bench-uplink-token-0123456789";
const log = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(", ");

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}
const pair = (values: number[]) =>
  `${percentile(values, 50).toFixed(0).padStart(5)} / ${percentile(values, 95).toFixed(0).padStart(5)} ms`;

/** The web app's ingest, acking every valid batch at once; `arrived` gets each operationId's arrival. */
async function ingestServer(arrived: Map<string, number>, batches: { count: number }) {
  const http = createServer();
  const io = new Server(http, {
    path: INGEST_PATH,
    maxHttpBufferSize: INGEST_MAX_MESSAGE_BYTES,
    allowRequest: (request, callback) => callback(null, request.headers.authorization === `Bearer ${TOKEN}`),
  });
  io.of(INGEST_NAMESPACE).on("connection", (socket) => {
    socket.on("batch", (input: unknown, ack: (answer: IngestAck) => void) => {
      const at = Date.now();
      const decoded = decodeIngestBatch(input);
      if (!decoded.ok) return ack({ ok: false, batchId: null, error: decoded.error, retry: false });
      batches.count++;
      for (const row of decoded.batch.hits)
        if (!arrived.has(row.operationId)) arrived.set(row.operationId, at);
      ack({ ok: true, batchId: decoded.batch.batchId, duplicate: false });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => io.close(() => resolve())),
  };
}

const source = sourceFromUserAgent("kubectl/v1.34.0");
const hit = (operationId: string): Hit => ({
  at: Date.now(),
  method: "GET",
  operationId,
  path: "/api/v1/namespaces",
  status: 200,
  source,
  details: [],
});

async function run(name: string, quietFlushMs: number | undefined): Promise<void> {
  const arrived = new Map<string, number>();
  const batches = { count: 0 };
  const server = await ingestServer(arrived, batches);
  const dir = fs.mkdtempSync(path.join(tmpdir(), "apisnoop-bench-uplink-"));
  const uplink = new Uplink({
    url: server.url,
    token: TOKEN,
    proxyId: "bench",
    release: () => "1.36",
    spoolDir: dir,
    ...(quietFlushMs === undefined ? {} : { quietFlushMs }),
  });
  try {
    while (!uplink.stats().connected) await sleep(20);
    await sleep(1500);
    const counted = new Map<string, number>();
    for (let i = 0; i < QUIET_HITS; i++) {
      const id = `quiet${i}`;
      counted.set(id, Date.now());
      uplink.count(hit(id));
      await sleep(1500);
    }
    const quiet = [...counted]
      .filter(([id]) => arrived.has(id))
      .map(([id, at]) => (arrived.get(id) as number) - at);
    // Steady: a hit every 5 ms for 10 s, each of a new endpoint so that each one's arrival is seen.
    counted.clear();
    const before = batches.count;
    const started = Date.now();
    for (let i = 0; Date.now() - started < 10_000; i++) {
      const id = `steady${i}`;
      counted.set(id, Date.now());
      uplink.count(hit(id));
      await sleep(5);
    }
    await sleep(1500);
    const seconds = (Date.now() - started) / 1000;
    const steady = [...counted]
      .filter(([id]) => arrived.has(id))
      .map(([id, at]) => (arrived.get(id) as number) - at);
    log(`\n  ${name} (load average ${load()}):`);
    log(
      `    quiet, one hit every 1.5 s: ${quiet.length}/${QUIET_HITS} arrived, count → web app p50 / p95 ${pair(quiet)}`,
    );
    log(
      `    steady, a hit every 5 ms: ${steady.length}/${counted.size} arrived, count → web app p50 / p95 ${pair(steady)}; ` +
        `${batches.count - before} batches in ${seconds.toFixed(1)} s`,
    );
  } finally {
    await uplink.close();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

log(`bench:uplink — uptime before: load average ${load()}`);
await run("without the quiet flush (quietFlushMs 0, the baseline)", 0);
await run("with the quiet flush (the default)", undefined);
await run("without the quiet flush (quietFlushMs 0, the baseline), again", 0);
await run("with the quiet flush (the default), again", undefined);
log(`bench:uplink — uptime after: load average ${load()}`);
process.exit(0);
