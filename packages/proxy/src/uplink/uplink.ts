import fs from "node:fs";
import path from "node:path";
import {
  type Hit,
  type IngestAck,
  type IngestBatch,
  ingestConnection,
  RollupBuilder,
  splitIngestBatch,
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
  /**
   * The first hit after a quiet spell (nothing spooled for `flushMs`, nothing waiting for an ack) ships
   * this soon (default 25 ms, to take in the rest of a burst such as kubectl's discovery calls) instead of
   * at the next tick, up to `flushMs` later; the ticks then start again from it. Batches stay at least
   * `flushMs` apart, so steady traffic is batched as before. 0: off (every hit waits for a tick).
   */
  quietFlushMs?: number;
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
  /**
   * Rollup rows held in memory while nothing can be spooled (the spool full, or its disk failing), at
   * most (default 100,000, about 40 MiB). Past it the time buckets widen to hours, then days; past it at
   * days, hits that need a new row are dropped and counted.
   */
  maxPendingRows?: number;
  /** First delay before sending again after the web app did not take a batch; doubles. Default 1 s. */
  retryDelayMs?: number;
  /** The longest delay between sends after failures (default 60 s). */
  maxRetryDelayMs?: number;
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
  /** Rollup rows held in memory, and the minutes their time buckets span (1, 60 or 1440). */
  rowsPending: number;
  bucketMinutes: number;
  /** Hits not counted because memory was full while nothing could be spooled. */
  hitsDropped: number;
  /** Field uses not counted for the same reason. */
  fieldsDropped: number;
  /** Spool files moved to the quarantine folder (unreadable), and batches the web app refused kept there. */
  spoolQuarantined: number;
  /** Refused batches not kept: the quarantine folder held its bound or could not be written. */
  quarantineOverflow: number;
  /** Hits counted in memory only: the journal had stopped (a failed write, or its backlog bound). */
  hitsUnjournalled: number;
  /** Sends the web app did not take (no answer, or "retry"), and the delay before the next. */
  sendFailures: number;
  retryDelayMs: number;
}

/** Delays between sends after failures: from `retryDelayMs`, doubling, at most this (default). */
const MAX_RETRY_DELAY_MS = 60_000;

/**
 * Lossless delivery to the dashboard: counted hits go to a write-ahead journal and into edge
 * rollups; every `flushMs` (or `maxKeys` rows; less often while the web app is behind; `quietFlushMs` after
 * the first hit of a quiet spell) the rollups become a batch in the durable spool (split into parts well
 * below the web app's message limit), then the journal is emptied. Spooled batches are sent in order over
 * the ingest namespace and deleted only when the web app acknowledges their commit; batch ids make replays
 * idempotent there, and a batch it did not take is sent again after a delay that doubles up to a minute.
 * While nothing can be spooled (the spool full, or its disk failing) rollups stay in memory, bounded:
 * wider time buckets first, then counted drops.
 */
export class Uplink implements HitSink {
  private readonly builder: RollupBuilder;
  private readonly journal: HitJournal;
  private readonly spool: BatchSpool;
  private readonly socket: Socket;
  private timer: NodeJS.Timeout;
  /** The flush armed by the first hit after a quiet spell, until it runs. */
  private quietFlush: NodeJS.Timeout | null = null;
  private readonly lockFile: string;
  private sending = false;
  private closed = false;
  private fullLogged = false;
  private acked = 0;
  private refused = 0;
  private lastErrorLog = "";
  private lastSpooledAt = Date.now();
  /**
   * When a batch was last spooled (`performance.now()`, which a wall-clock step cannot move: a step back
   * would keep every hit waiting for a tick, a step forward ship batches closer than `flushMs`); never, at
   * start, so the first hit ships soon, as after a quiet spell.
   */
  private lastBatchAt = Number.NEGATIVE_INFINITY;
  /** Batches drained from the rollups but not yet written to the spool (a write failed), with their marks. */
  private readonly unspooled: { batches: IngestBatch[]; journal: JournalMark }[] = [];
  private writeErrorLogged = "";
  private hitsDropped = 0;
  private fieldsDropped = 0;
  private droppingLogged = false;
  private sendFailures = 0;
  private retryDelay: number;
  private retryAt = 0;

  constructor(private readonly options: UplinkOptions) {
    const log = options.log ?? (() => {});
    this.retryDelay = options.retryDelayMs ?? 1000;
    fs.mkdirSync(options.spoolDir, { recursive: true, mode: 0o700 });
    this.lockFile = lock(options.spoolDir);
    this.spool = BatchSpool.open(
      path.join(options.spoolDir, "batches"),
      options.maxSpoolBytes ?? 256 * 2 ** 20,
      {
        quarantineDir: path.join(options.spoolDir, "quarantine"),
        onQuarantine: ({ file, reason }) =>
          log(
            `uplink: spool file moved to ${file}, not sent: ${reason} (apisnoop_uplink_spool_quarantined_total)`,
          ),
      },
    );
    if (this.spool.partialWritesRemoved > 0) {
      log(
        `uplink: removed ${this.spool.partialWritesRemoved} batch file(s) an earlier run was writing when it stopped; their hits are in the journal`,
      );
    }
    // A kill between spooling a batch and emptying the journal leaves hits in both: the spool's marks
    // say which journal lines it already holds, and only the rest is replayed.
    const { journal, replayed, tornBytes } = HitJournal.open(
      path.join(options.spoolDir, "hits.journal"),
      (generation) => this.spool.journalBytesSpooled(generation),
      {
        // Hits stay counted in memory; only their survival of a crash until the next spooled batch is lost.
        onStop: ({ reason }) =>
          log(
            `uplink: the hit journal stopped until the next spooled batch (${reason}): hits are counted in memory, not journalled (apisnoop_uplink_hits_unjournalled_total)`,
          ),
      },
    );
    if (tornBytes > 0) {
      log(`uplink: cut a journal line an earlier run was writing when it stopped (${tornBytes} bytes)`);
    }
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
      // A web app process that just came (back) is worth trying at once.
      this.retryAt = 0;
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

  /**
   * Counts a hit: queued for the journal, then into the rollups. Called before the client's response ends;
   * touches no disk (the journal writes asynchronously, and spooling happens on the flush timer unless
   * `maxKeys` rows are pending).
   */
  count(hit: Hit): void {
    const room = this.makeRoom();
    if (!room && !this.builder.add(hit, false)) {
      this.drop();
      return;
    }
    // With the spool full the journal would grow with every request: memory holds the rollups then.
    if (!this.spool.isFull) this.journal.append(hit);
    if (room) this.builder.add(hit);
    if (this.builder.keyCount >= (this.options.maxKeys ?? 20_000)) this.flush();
    else if (this.quietFlush === null && this.options.quietFlushMs !== 0 && this.quiet()) {
      this.quietFlush = setTimeout(() => this.flushAfterQuiet(), this.options.quietFlushMs ?? 25);
    }
  }

  /** Nothing was spooled for a whole `flushMs` and the web app has taken every batch: hits are rare. */
  private quiet(): boolean {
    return (
      this.spool.depth === 0 &&
      !this.blocked() &&
      performance.now() - this.lastBatchAt >= (this.options.flushMs ?? 1000)
    );
  }

  /** Ships what the first hit after a quiet spell started, and restarts the ticks from now. */
  private flushAfterQuiet(): void {
    this.quietFlush = null;
    // A tick since the hit came has shipped it already.
    if (this.closed || !this.quiet()) return;
    clearInterval(this.timer);
    this.flush();
    this.timer = setInterval(() => this.flush(), this.options.flushMs ?? 1000);
  }

  /** Adds the field paths found after the hit was counted. */
  addFields(hit: Hit): void {
    this.fieldsDropped += this.builder.addFields(hit, this.makeRoom());
  }

  /**
   * Whether the rollups may take new rows. While nothing can be spooled they are bounded by
   * `maxPendingRows`: past it the time buckets widen (minutes to hours, then days, said once each), and
   * at days new rows are refused.
   */
  private makeRoom(): boolean {
    const max = this.options.maxPendingRows ?? 100_000;
    if (this.builder.keyCount < max) return true;
    if (!this.blocked()) return true; // the next flush spools them
    while (this.builder.keyCount >= max && this.builder.coarsen()) {
      this.options.log?.(
        `uplink: nothing can be spooled and ${max} rollup rows are held: counting hits per ${this.builder.bucketMinutes === 60 ? "hour" : "day"} instead of per minute until the spool takes batches again`,
      );
    }
    return this.builder.keyCount < max;
  }

  /** Nothing can be spooled now: the spool is full, or a batch could not be written. */
  private blocked(): boolean {
    return this.spool.isFull || this.unspooled.length > 0;
  }

  private drop(): void {
    this.hitsDropped++;
    if (this.droppingLogged) return;
    this.droppingLogged = true;
    this.options.log?.(
      `uplink: nothing can be spooled and memory holds ${this.builder.keyCount} day rollup rows: hits needing a new row are dropped and counted (apisnoop_uplink_hits_dropped_total)`,
    );
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
        this.unspooled.reduce(
          (n, { batches }) => n + batches.reduce((m, b) => m + b.hits.reduce((k, h) => k + h.count, 0), 0),
          0,
        ),
      rowsPending: this.builder.keyCount,
      bucketMinutes: this.builder.bucketMinutes,
      hitsDropped: this.hitsDropped,
      fieldsDropped: this.fieldsDropped,
      spoolQuarantined: this.spool.quarantined,
      quarantineOverflow: this.spool.quarantineOverflow,
      hitsUnjournalled: this.journal.unjournalled,
      sendFailures: this.sendFailures,
      retryDelayMs: this.retryAt > Date.now() ? this.retryAt - Date.now() : 0,
    };
  }

  /** Spools what is pending, waits up to `graceMs` for the web app to take the spool, and disconnects. */
  async close(graceMs = 3000): Promise<void> {
    clearInterval(this.timer);
    if (this.quietFlush) clearTimeout(this.quietFlush);
    this.spoolPending(true);
    const deadline = Date.now() + graceMs;
    this.retryAt = 0;
    while (this.spool.depth > 0 && this.socket.connected && Date.now() < deadline) {
      await this.send(true);
      if (this.spool.depth > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    this.closed = true;
    this.socket.disconnect();
    await this.journal.close();
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
    if (this.unspooled.length > 0) {
      // Drained batches whose write failed go first, in order, and nothing more is drained while they
      // fail: memory then holds one set of rollups, bounded (`makeRoom`), not one more batch a second.
      if (!this.writeUnspooled()) return;
      if (!pending) {
        this.journalSpooled();
        return;
      }
      // What the builder holds is spooled now too, so the journal can be emptied.
    } else {
      const due =
        force ||
        this.spool.depth === 0 ||
        this.builder.keyCount >= (this.options.maxKeys ?? 20_000) ||
        Date.now() - this.lastSpooledAt >= (this.options.maxBatchDelayMs ?? 10_000);
      if (!due) return;
    }
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
    if (batch) this.unspooled.push({ batches: splitIngestBatch(batch), journal: this.journal.mark() });
    if (this.writeUnspooled()) this.journalSpooled();
  }

  /**
   * Writes the drained batches to the spool, oldest first (the parts of one drain as one file). One that
   * cannot be written (disk full, I/O error) stays in memory, its hits in the journal; true when none is left.
   */
  private writeUnspooled(): boolean {
    try {
      for (let next = this.unspooled[0]; next; next = this.unspooled[0]) {
        this.spool.put(next.batches, next.journal);
        this.unspooled.shift();
      }
      if (this.writeErrorLogged) this.options.log?.("uplink: the spool takes batches again");
      this.writeErrorLogged = "";
      return true;
    } catch (error) {
      // Said once per kind of failure (the message names a different file each time).
      const kind = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      if (kind !== this.writeErrorLogged) {
        this.options.log?.(`uplink: cannot write to the spool: ${(error as Error).message}`);
      }
      this.writeErrorLogged = kind;
      return false;
    }
  }

  /** Everything journalled is in the spool: the journal is emptied, and a spell of drops is summed up. */
  private journalSpooled(): void {
    this.journal.reset();
    this.lastSpooledAt = Date.now();
    this.lastBatchAt = performance.now();
    if (this.droppingLogged) {
      this.options.log?.(`uplink: ${this.hitsDropped} hits dropped so far while nothing could be spooled`);
    }
    this.droppingLogged = false;
  }

  /**
   * Sends spooled batches oldest first, one at a time, while the web app answers. A batch it does not take
   * (no answer in time, or "retry") stays spooled and is sent again after a delay that doubles from
   * `retryDelayMs` up to a minute (with jitter, so proxies do not come back in step); `now` ignores it.
   */
  private async send(now = false): Promise<void> {
    if (this.sending || this.closed) return;
    if (!now && Date.now() < this.retryAt) return;
    this.sending = true;
    try {
      for (;;) {
        if (!this.socket.connected) return;
        const next = this.spool.peek();
        if (!next) return;
        let ack: IngestAck | null;
        try {
          ack = (await this.socket
            .timeout(this.options.ackTimeoutMs ?? 30_000)
            .emitWithAck("batch", next.batch as IngestBatch)) as IngestAck;
        } catch {
          ack = null; // no answer in time
        }
        if (!ack || (!ack.ok && ack.retry)) {
          this.backOff();
          return;
        }
        this.retryDelay = this.options.retryDelayMs ?? 1000;
        if (ack.ok) this.acked++;
        else {
          // Not valid for the web app: sending it again cannot help, and dropping it unseen would hide
          // a bug. It is kept aside for a person, and the batches after it go on.
          this.refused++;
          const kept = this.spool.quarantineRefused(next.entry, next.batch, ack.error);
          this.options.log?.(
            `uplink: the web app refused batch ${next.batch.batchId} for good: ${ack.error.slice(0, 300)}; ${
              kept
                ? `kept in ${this.spool.quarantineDir} (apisnoop_uplink_spool_quarantined_total)`
                : `not kept: the quarantine folder is full or cannot be written (apisnoop_uplink_quarantine_overflow_total)`
            }`,
          );
        }
        this.spool.done(next.entry);
      }
    } catch (error) {
      // A spool file that cannot be read or removed: said, and tried again at the next flush.
      this.options.log?.(`uplink: spool: ${(error as Error).message}`);
    } finally {
      this.sending = false;
    }
  }

  /** The web app did not take a batch: wait before the next try, twice as long as the last time. */
  private backOff(): void {
    this.sendFailures++;
    const delay = this.retryDelay * (0.75 + Math.random() * 0.5);
    this.retryAt = Date.now() + delay;
    this.retryDelay = Math.min(this.retryDelay * 2, this.options.maxRetryDelayMs ?? MAX_RETRY_DELAY_MS);
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
