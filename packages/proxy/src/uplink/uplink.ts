import fs from "node:fs";
import path from "node:path";
import {
  type Hit,
  type IngestAck,
  type IngestBatch,
  ingestConnection,
  RollupBuilder,
} from "@apisnoop/protocol";
import { io, type Socket } from "socket.io-client";
import type { HitSink } from "../addons/record";
import { BatchSpool } from "./batch-spool";
import { HitJournal, type JournalMark } from "./hit-journal";

export interface UplinkOptions {
  /** The web app's base URL (`http://apisnoop-web:3000`); the ingest namespace is appended. */
  url: string;
  /** The shared ingest token. Sent in the Socket.IO handshake only; never logged or spooled. */
  token: string;
  /** Names this proxy to the web app; stable across restarts. */
  proxyId: string;
  /** The release of the spec hits are matched against, when known. */
  release: () => string | null;
  /** Where unacknowledged batches and the hit journal live; one proxy per directory. */
  spoolDir: string;
  /** Past this many spooled bytes, batches stay in memory (default 256 MiB). */
  maxSpoolBytes?: number;
  /** Ship pending rollups this often while the web app keeps up (default 1 s). */
  flushMs?: number;
  /** ... or as soon as this many distinct rollup rows are pending (default 20,000). */
  maxKeys?: number;
  /**
   * While earlier batches wait for their ack, keep folding for up to this long (default 10 s) instead of
   * cutting a batch per `flushMs`: a slow database then gets fewer, denser batches (more hits per row).
   * The journal keeps those hits safe meanwhile.
   */
  maxBatchDelayMs?: number;
  /** How long to wait for a batch's ack before trying again (default 30 s). */
  ackTimeoutMs?: number;
  log?: (line: string) => void;
}

/** The uplink's state, for /metrics. */
export interface UplinkStats {
  connected: boolean;
  spoolBatches: number;
  spoolBytes: number;
  spoolFull: boolean;
  batchesAcked: number;
  batchesRefused: number;
  hitsPending: number;
}

/**
 * Lossless delivery to the dashboard (issue 5 §5–6): counted hits go to a write-ahead journal and into edge
 * rollups; every `flushMs` (or `maxKeys` rows; less often while the web app is behind) the rollups become a
 * batch in the durable spool, then the journal is emptied. Spooled batches are sent in order over the ingest namespace and deleted only when
 * the web app acknowledges their commit; batch ids make replays idempotent there. A full spool keeps
 * rollups in memory (they grow with distinct keys, not requests) and says so once in the log.
 */
export class Uplink implements HitSink {
  private readonly builder: RollupBuilder;
  private readonly journal: HitJournal;
  private readonly spool: BatchSpool;
  private readonly socket: Socket;
  private readonly timer: NodeJS.Timeout;
  private readonly lockFile: string;
  private sending = false;
  private closed = false;
  private fullLogged = false;
  private acked = 0;
  private refused = 0;
  private lastErrorLog = "";
  private lastSpooledAt = Date.now();
  /** Batches drained from the rollups but not yet written to the spool (a write failed), with their marks. */
  private readonly unspooled: { batch: IngestBatch; journal: JournalMark }[] = [];
  private writeErrorLogged = "";
  private journalErrorLogged = false;

  constructor(private readonly options: UplinkOptions) {
    const log = options.log ?? (() => {});
    fs.mkdirSync(options.spoolDir, { recursive: true, mode: 0o700 });
    this.lockFile = lock(options.spoolDir);
    this.spool = BatchSpool.open(
      path.join(options.spoolDir, "batches"),
      options.maxSpoolBytes ?? 256 * 2 ** 20,
    );
    // A kill between spooling a batch and emptying the journal leaves hits in both: the spool's marks
    // say which journal lines it already holds, and only the rest is replayed.
    const { journal, replayed } = HitJournal.open(path.join(options.spoolDir, "hits.journal"), (generation) =>
      this.spool.journalBytesSpooled(generation),
    );
    this.journal = journal;
    this.builder = new RollupBuilder(options.proxyId, options.release);
    for (const hit of replayed) this.builder.add(hit);
    if (replayed.length > 0 || this.spool.depth > 0) {
      log(`uplink: replaying ${this.spool.depth} spooled batches and ${replayed.length} journalled hits`);
    }
    this.spoolPending(true);
    const ingest = ingestConnection(options.url, { token: options.token, proxyId: options.proxyId });
    this.socket = io(ingest.url, { ...ingest.options, reconnectionDelayMax: 2000 });
    this.socket.on("connect", () => {
      log(`uplink: connected to ${options.url}`);
      void this.send();
    });
    this.socket.on("connect_error", (error) => {
      const message = describeConnectError(error);
      // One line per distinct error, so an outage does not flood the log.
      if (message !== this.lastErrorLog) log(`uplink: cannot reach ${options.url}: ${message}`);
      this.lastErrorLog = message;
    });
    this.timer = setInterval(() => this.flush(), options.flushMs ?? 1000);
  }

  /** Counts a hit: journal first, then the rollups. Called before the client's response ends. */
  count(hit: Hit): void {
    try {
      // With the spool full the journal would grow with every request: memory holds the rollups then.
      if (!this.spool.isFull) this.journal.append(hit);
    } catch (error) {
      // Still counted in memory; only its survival of a crash is lost. Said once, not per request.
      if (!this.journalErrorLogged)
        this.options.log?.(`uplink: cannot write the hit journal: ${(error as Error).message}`);
      this.journalErrorLogged = true;
    }
    this.builder.add(hit);
    if (this.builder.keyCount >= (this.options.maxKeys ?? 20_000)) this.flush();
  }

  /** Adds the field paths found after the hit was counted. */
  addFields(hit: Hit): void {
    this.builder.addFields(hit);
  }

  /** Spools what is pending and sends what the spool holds. */
  flush(): void {
    if (this.closed) return;
    this.spoolPending();
    void this.send();
  }

  stats(): UplinkStats {
    return {
      connected: this.socket.connected,
      spoolBatches: this.spool.depth,
      spoolBytes: this.spool.bytes,
      spoolFull: this.spool.isFull,
      batchesAcked: this.acked,
      batchesRefused: this.refused,
      hitsPending:
        this.builder.pendingHits +
        this.unspooled.reduce((n, { batch }) => n + batch.hits.reduce((m, h) => m + h.count, 0), 0),
    };
  }

  /** Spools what is pending, waits up to `graceMs` for the web app to take the spool, and disconnects. */
  async close(graceMs = 3000): Promise<void> {
    clearInterval(this.timer);
    this.spoolPending(true);
    const deadline = Date.now() + graceMs;
    while (this.spool.depth > 0 && this.socket.connected && Date.now() < deadline) {
      await this.send();
      if (this.spool.depth > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    this.closed = true;
    this.socket.disconnect();
    this.journal.close();
    fs.rmSync(this.lockFile, { force: true });
  }

  /**
   * Moves the rollups into a durable batch and empties the journal, unless the spool is full. While the
   * web app has not taken the previous batches, waits (up to `maxBatchDelayMs` or `maxKeys` rows) so that
   * batches grow denser instead of more numerous; `force` spools now (start, close). The journal is emptied
   * only when everything it mirrors went into the spool in this call, so it never holds hits that a later
   * ack could delete from the spool (a kill then would replay them twice).
   */
  private spoolPending(force = false): void {
    const pending = this.builder.keyCount > 0 || this.builder.pendingHits > 0;
    if (!pending && this.unspooled.length === 0) return;
    const due =
      force ||
      this.unspooled.length > 0 ||
      this.spool.depth === 0 ||
      this.builder.keyCount >= (this.options.maxKeys ?? 20_000) ||
      Date.now() - this.lastSpooledAt >= (this.options.maxBatchDelayMs ?? 10_000);
    if (!due) return;
    if (this.spool.isFull) {
      if (!this.fullLogged) {
        this.options.log?.(
          `uplink: spool full (${this.spool.bytes} bytes in ${this.spool.depth} batches): keeping rollups in memory, unjournalled, until the web app takes batches`,
        );
      }
      this.fullLogged = true;
      return;
    }
    this.fullLogged = false;
    const batch = this.builder.drain();
    if (batch) this.unspooled.push({ batch, journal: this.journal.mark() });
    // A batch that cannot be written (disk full, I/O error) stays in memory and its hits in the journal;
    // it is written, in order, at a later flush.
    try {
      for (let next = this.unspooled[0]; next; next = this.unspooled[0]) {
        this.spool.put(next.batch, next.journal);
        this.unspooled.shift();
      }
      this.journal.reset();
      this.lastSpooledAt = Date.now();
      this.writeErrorLogged = "";
    } catch (error) {
      // Said once per kind of failure (the message names a different file each time).
      const kind = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      if (kind !== this.writeErrorLogged) {
        this.options.log?.(`uplink: cannot write to the spool: ${(error as Error).message}`);
      }
      this.writeErrorLogged = kind;
    }
  }

  /** Sends spooled batches oldest first, one at a time, while the web app answers. */
  private async send(): Promise<void> {
    if (this.sending || this.closed) return;
    this.sending = true;
    try {
      for (;;) {
        if (!this.socket.connected) return;
        const next = this.spool.peek();
        if (!next) return;
        let ack: IngestAck;
        try {
          ack = (await this.socket
            .timeout(this.options.ackTimeoutMs ?? 30_000)
            .emitWithAck("batch", next.batch as IngestBatch)) as IngestAck;
        } catch {
          return; // no answer: the batch stays spooled and is sent again
        }
        if (!ack.ok && ack.retry) return;
        if (ack.ok) this.acked++;
        else {
          this.refused++;
          this.options.log?.(
            `uplink: the web app refused batch ${next.batch.batchId} for good: ${ack.error}`,
          );
        }
        this.spool.remove(next.entry);
      }
    } catch (error) {
      // A spool file that cannot be read or removed: said, and tried again at the next flush.
      this.options.log?.(`uplink: spool: ${(error as Error).message}`);
    } finally {
      this.sending = false;
    }
  }
}

/**
 * Why the ingest connection failed, in words: a refused WebSocket upgrade reaches Socket.IO only as
 * "websocket error" with the HTTP status in its cause (401: the web app does not take this token).
 */
function describeConnectError(error: Error): string {
  const cause = (error as Error & { description?: { message?: unknown } }).description?.message;
  const status =
    typeof cause === "string" ? /Unexpected server response: (\d{3})/.exec(cause)?.[1] : undefined;
  if (status === "401") return "the web app refused this proxy's ingest token (HTTP 401)";
  if (status) return `${error.message} (HTTP ${status})`;
  return error.message;
}

/** Takes the spool directory for this process; refuses one another live process holds. */
function lock(dir: string): string {
  const file = path.join(dir, "lock");
  try {
    const holder = Number(fs.readFileSync(file, "utf8"));
    if (holder && holder !== process.pid && isAlive(holder)) {
      throw new Error(
        `spool directory ${dir} is in use by process ${holder}: give each proxy its own --spool-dir`,
      );
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  fs.writeFileSync(file, String(process.pid), { mode: 0o600 });
  return file;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
