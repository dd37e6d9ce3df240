import fs from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import {
  decodeIngestBatch,
  type Hit,
  INGEST_NAMESPACE,
  INGEST_PATH,
  type IngestAck,
  type IngestBatch,
  RollupBuilder,
  sourceFromUserAgent,
} from "@apisnoop/protocol";
import { Server } from "socket.io";
import { afterEach, describe, expect, it } from "vitest";
import { BatchSpool } from "./batch-spool";
import { HitJournal } from "./hit-journal";
import { Uplink } from "./uplink";

const TOKEN = "a-test-token-0123456789";

/** A small ingest server speaking the web app's protocol: token check, decode, store, ack after "commit". */
class IngestServer {
  readonly batches: IngestBatch[] = [];
  /** What the next batches get answered instead of being stored. */
  failing: IngestAck | null = null;
  private constructor(
    private readonly http: HttpServer,
    private readonly io: Server,
  ) {}

  static async start(port = 0): Promise<IngestServer> {
    const http = createServer();
    // The web app's ingest path, and its token check on the upgrade request.
    const io = new Server(http, {
      path: INGEST_PATH,
      allowRequest: (request, callback) =>
        callback(null, request.headers.authorization === `Bearer ${TOKEN}`),
    });
    const server = new IngestServer(http, io);
    const ns = io.of(INGEST_NAMESPACE);
    ns.on("connection", (socket) => {
      socket.on("batch", (input: unknown, ack: (answer: IngestAck) => void) => {
        const decoded = decodeIngestBatch(input);
        if (!decoded.ok) return ack({ ok: false, batchId: null, error: decoded.error, retry: false });
        if (server.failing) return ack({ ...server.failing, batchId: decoded.batch.batchId } as IngestAck);
        const duplicate = server.batches.some((b) => b.batchId === decoded.batch.batchId);
        if (!duplicate) server.batches.push(decoded.batch);
        ack({ ok: true, batchId: decoded.batch.batchId, duplicate });
      });
    });
    await new Promise<void>((resolve) => http.listen(port, "127.0.0.1", resolve));
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  /** Hits stored, per operationId. */
  counts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const batch of this.batches)
      for (const row of batch.hits) counts[row.operationId] = (counts[row.operationId] ?? 0) + row.count;
    return counts;
  }

  async stop(): Promise<void> {
    this.io.disconnectSockets(true);
    await new Promise<void>((resolve) => this.io.close(() => resolve()));
  }
}

const source = sourceFromUserAgent("kubectl/v1.34.0");
const hit = (operationId: string, at = Date.now()): Hit => ({
  at,
  method: "GET",
  operationId,
  path: "/api/v1/namespaces",
  status: 200,
  source,
  details: [],
});

async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const thing of open.splice(0)) await thing.close();
});

function uplinkTo(
  url: string,
  spoolDir: string,
  extra: Partial<ConstructorParameters<typeof Uplink>[0]> = {},
) {
  const uplink = new Uplink({
    url,
    token: TOKEN,
    proxyId: "test",
    release: () => "1.34",
    spoolDir,
    flushMs: 50,
    ...extra,
  });
  open.push(uplink);
  return uplink;
}

describe("Uplink", () => {
  it("delivers counted hits as rollups, with the field paths learnt later, and empties its spool", async () => {
    const server = await IngestServer.start();
    open.push({ close: () => server.stop() });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    const uplink = uplinkTo(server.url, dir);
    const first = hit("listCoreV1Namespace");
    for (let i = 0; i < 1000; i++) uplink.count(i === 0 ? first : hit("listCoreV1Namespace"));
    uplink.addFields({
      ...first,
      requestFields: undefined,
      responseFields: { fields: ["K:a"], unknown: ["K:b"] },
    });
    await until(() => server.counts().listCoreV1Namespace === 1000, "1000 hits stored");
    await until(() => uplink.stats().spoolBatches === 0, "spool emptied");
    const fields = server.batches.flatMap((b) => b.fields).map((f) => [f.field, f.unknown, f.count]);
    expect(fields).toEqual([
      ["K:a", false, 1],
      ["K:b", true, 1],
    ]);
    expect(server.batches.every((b) => b.release === "1.34" && b.proxyId === "test")).toBe(true);
    expect(journalledHits(dir)).toBe(0);
  });

  it("spools through an outage and a refusal, then replays in order, exactly once", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    const reserved = await IngestServer.start();
    const port = reserved.port;
    await reserved.stop();
    const uplink = uplinkTo(`http://127.0.0.1:${port}`, dir, { maxBatchDelayMs: 50 });
    // One batch per 100 hits: each group waits until its batch is spooled, so a slow machine (timers late
    // under load) cannot fold two groups into one batch and leave fewer than three to replay in order.
    for (let batch = 1; batch <= 3; batch++) {
      for (let i = 0; i < 100; i++) uplink.count(hit(`op${(batch * 100 + i) % 3}`));
      await until(() => uplink.stats().spoolBatches >= batch, "batches spooled while the web app is down");
    }
    const server = await IngestServer.start(port);
    open.push({ close: () => server.stop() });
    server.failing = { ok: false, batchId: null, error: "storage unavailable", retry: true };
    await until(() => uplink.stats().connected, "reconnected");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.batches).toHaveLength(0);
    expect(uplink.stats().spoolBatches).toBeGreaterThanOrEqual(3);
    server.failing = null;
    await until(() => uplink.stats().spoolBatches === 0, "spool replayed");
    expect(server.counts()).toEqual({ op0: 100, op1: 100, op2: 100 });
    const sentAt = server.batches.map((b) => b.sentAt);
    expect(sentAt).toEqual([...sentAt].sort((a, b) => a - b));
  });

  it("after a crash, replays the journal and the spool of the dead run; the token is in neither", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    const reserved = await IngestServer.start();
    const port = reserved.port;
    await reserved.stop();
    // A run that dies without closing: some hits spooled, the rest only journalled.
    const dead = new Uplink({
      url: `http://127.0.0.1:${port}`,
      token: TOKEN,
      proxyId: "test",
      release: () => null,
      spoolDir: dir,
      flushMs: 3_600_000,
    });
    for (let i = 0; i < 50; i++) dead.count(hit("spooled"));
    dead.flush();
    for (let i = 0; i < 7; i++) dead.count(hit("journalled"));
    (dead as unknown as { socket: { disconnect(): void }; timer: NodeJS.Timeout }).socket.disconnect();
    clearInterval((dead as unknown as { timer: NodeJS.Timeout }).timer);
    const files = fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    for (const file of files)
      expect(fs.readFileSync(path.join(file.parentPath, file.name), "utf8")).not.toContain(TOKEN);
    const server = await IngestServer.start(port);
    open.push({ close: () => server.stop() });
    uplinkTo(server.url, dir);
    await until(() => server.counts().journalled === 7 && server.counts().spooled === 50, "both replayed");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.counts()).toEqual({ spooled: 50, journalled: 7 });
  });

  it("after a kill between spooling a batch and emptying the journal, replays only the hits not spooled", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    // The dead run's files: 50 hits journalled and spooled with the journal's mark, 7 journalled after it.
    const { journal } = HitJournal.open(path.join(dir, "hits.journal"));
    const builder = new RollupBuilder("test", null);
    for (let i = 0; i < 50; i++) {
      const counted = hit("spooled");
      journal.append(counted);
      builder.add(counted);
    }
    BatchSpool.open(path.join(dir, "batches"), 1 << 20).put(builder.drain() as IngestBatch, journal.mark());
    for (let i = 0; i < 7; i++) journal.append(hit("journalled"));
    journal.close();
    const server = await IngestServer.start();
    open.push({ close: () => server.stop() });
    uplinkTo(server.url, dir);
    await until(() => server.counts().journalled === 7 && server.counts().spooled === 50, "both replayed");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.counts()).toEqual({ spooled: 50, journalled: 7 });
  });

  it("while batches wait, folds further hits into one denser batch instead of one per interval", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    const uplink = uplinkTo("http://127.0.0.1:9", dir, { maxBatchDelayMs: 60_000 });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 100; i++) uplink.count(hit("same"));
      await new Promise((resolve) => setTimeout(resolve, 80));
    }
    // The first batch was cut at once (nothing waited); the rest wait, journalled, for the next one.
    expect(uplink.stats().spoolBatches).toBe(1);
    expect(uplink.stats().hitsPending).toBe(400);
    expect(journalledHits(dir)).toBe(400);
  });

  it("keeps a batch it cannot write to the spool in memory, logs once, and writes it later in order", async () => {
    const server = await IngestServer.start();
    open.push({ close: () => server.stop() });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    const lines: string[] = [];
    const uplink = uplinkTo(server.url, dir, { log: (line) => lines.push(line) });
    const batches = path.join(dir, "batches");
    // The spool's directory replaced by a file: every write fails (as on a full or broken disk).
    fs.rmSync(batches, { recursive: true });
    fs.writeFileSync(batches, "");
    for (let i = 0; i < 100; i++) uplink.count(hit("during-failure"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(server.counts()).toEqual({});
    expect(lines.filter((line) => line.startsWith("uplink: cannot write to the spool"))).toHaveLength(1);
    expect(uplink.stats().hitsPending).toBe(100);
    fs.rmSync(batches);
    fs.mkdirSync(batches);
    for (let i = 0; i < 10; i++) uplink.count(hit("after"));
    await until(() => server.counts().after === 10, "the held batch and the new one delivered");
    expect(server.counts()).toEqual({ "during-failure": 100, after: 10 });
  });

  it("with the spool full, keeps rollups in memory without journalling, says so once, and delivers all later", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    const reserved = await IngestServer.start();
    const port = reserved.port;
    await reserved.stop();
    const lines: string[] = [];
    const uplink = uplinkTo(`http://127.0.0.1:${port}`, dir, {
      maxSpoolBytes: 1,
      maxBatchDelayMs: 0,
      log: (line) => lines.push(line),
    });
    for (let i = 0; i < 10; i++) uplink.count(hit("first"));
    await until(() => uplink.stats().spoolFull, "the spool full after one batch");
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (let i = 0; i < 1000; i++) uplink.count(hit("while-full"));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(journalledHits(dir)).toBe(0);
    expect(lines.filter((line) => line.startsWith("uplink: spool full"))).toHaveLength(1);
    const server = await IngestServer.start(port);
    open.push({ close: () => server.stop() });
    await until(() => server.counts()["while-full"] === 1000, "everything delivered");
    expect(server.counts()).toEqual({ first: 10, "while-full": 1000 });
  });

  it("refuses a spool directory another live process holds", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    fs.writeFileSync(path.join(dir, "lock"), String(process.ppid));
    expect(() => uplinkTo("http://127.0.0.1:9", dir)).toThrow(/in use by process/);
  });
});

/** Hits the spool directory's journal holds (lines other than its header and source definitions). */
function journalledHits(dir: string): number {
  return fs
    .readFileSync(path.join(dir, "hits.journal"), "utf8")
    .split("\n")
    .filter((line) => line.startsWith("[")).length;
}
