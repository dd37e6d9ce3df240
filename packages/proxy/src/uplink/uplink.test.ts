import fs from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import {
  decodeIngestBatch,
  type Hit,
  INGEST_MAX_MESSAGE_BYTES,
  INGEST_NAMESPACE,
  INGEST_PATH,
  type IngestAck,
  type IngestBatch,
  RollupBuilder,
  sourceFromUserAgent,
} from "@apisnoop/protocol";
import { Server } from "socket.io";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ProxyMetrics } from "../metrics";
import { smallDisk } from "../testing";
import { BatchSpool } from "./batch-spool";
import { HitJournal } from "./hit-journal";
import { Uplink } from "./uplink";

const TOKEN = "a-test-token-0123456789";

/** A small ingest server speaking the web app's protocol: token check, decode, store, ack after "commit". */
class IngestServer {
  readonly batches: IngestBatch[] = [];
  /** What the next batches get answered instead of being stored. */
  failing: IngestAck | null = null;
  /** Batches received, stored or not. */
  attempts = 0;
  /** How many of the next batches to refuse for good, as the web app refuses an invalid one. */
  refuse = 0;
  private constructor(
    private readonly http: HttpServer,
    private readonly io: Server,
  ) {}

  static async start(port = 0): Promise<IngestServer> {
    const http = createServer();
    // The web app's ingest path, and its token check on the upgrade request.
    const io = new Server(http, {
      path: INGEST_PATH,
      maxHttpBufferSize: INGEST_MAX_MESSAGE_BYTES,
      allowRequest: (request, callback) =>
        callback(null, request.headers.authorization === `Bearer ${TOKEN}`),
    });
    const server = new IngestServer(http, io);
    const ns = io.of(INGEST_NAMESPACE);
    ns.on("connection", (socket) => {
      socket.on("batch", (input: unknown, ack: (answer: IngestAck) => void) => {
        const decoded = decodeIngestBatch(input);
        server.attempts++;
        if (!decoded.ok) return ack({ ok: false, batchId: null, error: decoded.error, retry: false });
        if (server.refuse > 0) {
          server.refuse--;
          return ack({
            ok: false,
            batchId: decoded.batch.batchId,
            error: "minute out of range",
            retry: false,
          });
        }
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
    // Killed once the journal's write returned: the kernel holds the lines then.
    await (dead as unknown as { journal: HitJournal }).journal.idle();
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
    await journal.close();
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

  it("ships the first hit after a quiet spell at once, and later hits at the next tick, batched", async () => {
    const server = await IngestServer.start();
    open.push({ close: () => server.stop() });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    // A tick a minute: whatever arrives within the test's seconds was shipped without waiting for one.
    const uplink = uplinkTo(server.url, dir, { flushMs: 60_000, quietFlushMs: 10 });
    await until(() => uplink.stats().connected, "connected");
    uplink.count(hit("first"));
    uplink.count(hit("first")); // the same burst
    await until(() => server.counts().first === 2, "the first hits stored");
    expect(server.batches).toHaveLength(1);
    // A batch was just spooled: the next hit waits for the tick.
    uplink.count(hit("soon"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(server.batches).toHaveLength(1);
    expect(uplink.stats().hitsPending).toBe(1);
    // A minute without a batch later (the uplink's monotonic clock moved on; the minute's tick has not
    // run), the next hit is the first of a quiet spell again: it ships at once, with the one waiting.
    const now = performance.now.bind(performance);
    const spell = vi.spyOn(performance, "now").mockImplementation(() => now() + 61_000);
    try {
      uplink.count(hit("after"));
      await until(() => server.counts().after === 1, "the hit after the quiet spell stored");
      expect(server.batches).toHaveLength(2);
      expect(server.counts().soon).toBe(1);
      // And the hits right after that batch wait for the tick again, folded into one batch.
      for (let i = 0; i < 5; i++) uplink.count(hit("later"));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(server.batches).toHaveLength(2);
      expect(uplink.stats().hitsPending).toBe(5);
    } finally {
      spell.mockRestore();
    }
  });

  it("with quietFlushMs 0, keeps even the first hit for the tick", async () => {
    const server = await IngestServer.start();
    open.push({ close: () => server.stop() });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    const uplink = uplinkTo(server.url, dir, { flushMs: 60_000, quietFlushMs: 0 });
    await until(() => uplink.stats().connected, "connected");
    uplink.count(hit("first"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(server.batches).toHaveLength(0);
    expect(uplink.stats().hitsPending).toBe(1);
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

  it("splits a drain over the row limit into parts within it, each stored once, none lost", async () => {
    const server = await IngestServer.start();
    open.push({ close: () => server.stop() });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    const uplink = uplinkTo(server.url, dir, { flushMs: 3_600_000, maxKeys: 100_000 });
    for (let i = 0; i < 45_000; i++) uplink.count(hit(`op${i}`));
    uplink.flush();
    await until(() => Object.keys(server.counts()).length === 45_000, "45,000 rows stored", 60_000);
    expect(server.batches.length).toBe(3);
    for (const batch of server.batches) expect(batch.hits.length).toBeLessThanOrEqual(20_000);
    expect(Object.values(server.counts()).every((count) => count === 1)).toBe(true);
    expect(new Set(server.batches.map((b) => b.batchId)).size).toBe(3);
  });

  it("with nothing spoolable, holds bounded rows: hours, then days, then counted drops; delivers what it kept", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    const reserved = await IngestServer.start();
    const port = reserved.port;
    await reserved.stop();
    const lines: string[] = [];
    const uplink = uplinkTo(`http://127.0.0.1:${port}`, dir, {
      maxSpoolBytes: 1,
      maxBatchDelayMs: 0,
      maxPendingRows: 50,
      log: (line) => lines.push(line),
    });
    const metrics = new ProxyMetrics();
    metrics.uplink = uplink;
    uplink.count(hit("first"));
    await until(() => uplink.stats().spoolFull, "the spool full after one batch");
    // Ten operations, every seventh minute over 30 hours: 2,580 minute rows, 300 hour rows, 20 day rows.
    const start = Date.UTC(2026, 0, 1, 12);
    let counted = 1;
    let op0 = 0;
    for (let minute = 0; minute < 30 * 60; minute += 7) {
      for (let op = 0; op < 10; op++) {
        uplink.count(hit(`op${op}`, start + minute * 60_000));
        counted++;
      }
      op0++;
    }
    expect(uplink.stats().rowsPending).toBeLessThanOrEqual(50);
    expect(uplink.stats().bucketMinutes).toBe(1440);
    // New operations need new rows: 30 fit beside the 20 (and the one of "first" folded with them)...
    for (let op = 10; op < 100; op++) {
      uplink.count(hit(`op${op}`, start));
      counted++;
    }
    const dropped = uplink.stats().hitsDropped;
    expect(dropped).toBeGreaterThan(50);
    expect(uplink.stats().rowsPending).toBeLessThanOrEqual(50);
    // ...and a hit of a row held is still counted.
    uplink.count(hit("op0", start));
    counted++;
    op0++;
    expect(uplink.stats().hitsDropped).toBe(dropped);
    const text = metrics.render();
    expect(text).toContain(`apisnoop_uplink_hits_dropped_total ${dropped}`);
    expect(text).toContain("apisnoop_uplink_bucket_minutes 1440");
    expect(lines.filter((line) => line.includes("per hour instead of per minute"))).toHaveLength(1);
    expect(lines.filter((line) => line.includes("per day instead of per minute"))).toHaveLength(1);
    expect(lines.filter((line) => line.includes("dropped and counted"))).toHaveLength(1);
    const server = await IngestServer.start(port);
    open.push({ close: () => server.stop() });
    const delivered = () => Object.values(server.counts()).reduce((a, b) => a + b, 0);
    await until(
      () => delivered() === counted - dropped && uplink.stats().spoolBatches === 0,
      "all kept hits",
    );
    expect(server.counts().op0).toBe(op0);
    expect(lines.some((line) => line.includes(`${dropped} hits dropped so far`))).toBe(true);
  });

  it("backs off after failures, never hammering and never waiting past its bound, then delivers", async () => {
    const server = await IngestServer.start();
    open.push({ close: () => server.stop() });
    server.failing = { ok: false, batchId: null, error: "storage unavailable", retry: true };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    const uplink = uplinkTo(server.url, dir, { retryDelayMs: 20, maxRetryDelayMs: 200 });
    uplink.count(hit("late"));
    let longest = 0;
    await until(() => {
      longest = Math.max(longest, uplink.stats().retryDelayMs);
      return uplink.stats().sendFailures >= 12;
    }, "twelve failed sends");
    // One send per failure and the flushes between them add none: no retry loop.
    expect(server.attempts).toBeLessThanOrEqual(uplink.stats().sendFailures + 1);
    expect(longest).toBeGreaterThan(100);
    expect(longest).toBeLessThanOrEqual(200 * 1.25);
    server.failing = null;
    await until(() => server.counts().late === 1, "delivered once the web app takes it");
  });

  it("keeps a batch the web app refuses for good in the quarantine folder, once, and goes on", async () => {
    const server = await IngestServer.start();
    open.push({ close: () => server.stop() });
    server.refuse = 1;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "uplink-"));
    const lines: string[] = [];
    const uplink = uplinkTo(server.url, dir, { log: (line) => lines.push(line) });
    for (let i = 0; i < 5; i++) uplink.count(hit("refused"));
    await until(() => uplink.stats().batchesRefused === 1, "the first batch refused");
    for (let i = 0; i < 3; i++) uplink.count(hit("taken"));
    await until(
      () => server.counts().taken === 3 && uplink.stats().spoolBatches === 0,
      "the next one stored",
    );
    expect(server.attempts).toBe(2);
    const kept = fs.readdirSync(path.join(dir, "quarantine"));
    expect(kept).toHaveLength(1);
    const file = JSON.parse(fs.readFileSync(path.join(dir, "quarantine", kept[0] as string), "utf8"));
    expect(file.refused).toBe("minute out of range");
    expect(file.batch.hits).toEqual([expect.objectContaining({ operationId: "refused", count: 5 })]);
    expect(uplink.stats().spoolQuarantined).toBe(1);
    expect(lines.filter((line) => line.includes("refused batch"))).toEqual([
      expect.stringContaining(`kept in ${path.join(dir, "quarantine")}`),
    ]);
  });

  it("on a full disk (ENOSPC) counts on in memory, leaves no partial file, says so once, and delivers all later", async (context) => {
    const disk = smallDisk(2 * 2 ** 20);
    if (!disk) return context.skip("mounting a tmpfs needs root");
    try {
      const reserved = await IngestServer.start();
      const port = reserved.port;
      await reserved.stop();
      const lines: string[] = [];
      const dir = path.join(disk.dir, "spool");
      const uplink = uplinkTo(`http://127.0.0.1:${port}`, dir, { log: (line) => lines.push(line) });
      for (let i = 0; i < 10; i++) uplink.count(hit("before"));
      await until(() => uplink.stats().spoolBatches === 1, "the first batch spooled");
      disk.fill();
      // Distinct rows make batches larger than any room a page left free could hold.
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 2000; i++) expect(() => uplink.count(hit(`full${round}-${i}`))).not.toThrow();
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await until(() => lines.some((line) => line.includes("cannot write to the spool")), "the failure said");
      expect(lines.filter((line) => line.includes("cannot write to the spool"))).toEqual([
        expect.stringContaining("ENOSPC"),
      ]);
      expect(fs.readdirSync(path.join(dir, "batches")).filter((name) => name.endsWith(".tmp"))).toEqual([]);
      expect(uplink.stats().hitsPending).toBe(10_000);
      expect(uplink.stats().hitsDropped).toBe(0);
      disk.free();
      const server = await IngestServer.start(port);
      open.push({ close: () => server.stop() });
      const delivered = () => Object.values(server.counts()).reduce((a, b) => a + b, 0);
      await until(
        () => delivered() === 10_010 && uplink.stats().spoolBatches === 0,
        "everything delivered",
        30_000,
      );
      expect(Object.keys(server.counts())).toHaveLength(10_001);
      expect(lines.some((line) => line.includes("the spool takes batches again"))).toBe(true);
      await uplink.close();
    } finally {
      disk.unmount();
    }
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
