import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { type Hit, type Source, upgradeSource } from "@apisnoop/protocol";

/**
 * How far a journal had been written when its hits were drained into a batch. Spooled with the batch,
 * it tells a restart which journalled hits are already in the spool, so a kill between writing a batch
 * and emptying the journal replays nothing twice.
 */
export interface JournalMark {
  /** Names one life of the journal, from one reset to the next. */
  generation: string;
  /** Bytes written in that generation, header included. */
  bytes: number;
}

/** Journal lines waiting for the disk, at most (default): past it the journal stops until its next reset. */
export const MAX_JOURNAL_BACKLOG_BYTES = 8 * 2 ** 20;

/** Why the journal stopped taking hits until its next reset. */
export interface JournalStop {
  reason: string;
}

/**
 * The write-ahead log of hits counted since the last spooled batch. Appending never touches the disk on the
 * event loop: lines are queued and written in order by one asynchronous write at a time (all lines queued
 * meanwhile in one system call), so a slow or stalled disk cannot delay a client's request. Once a write
 * returns, its lines survive the proxy being killed (SIGKILL, OOM); a kill loses at most the lines of the
 * write in flight. Replayed into the rollups on start (past what the spool already holds), emptied whenever
 * the rollups it mirrors are spooled. A write that fails (ENOSPC, EIO) is cut back to the last whole line
 * and, like a backlog past `maxBacklogBytes`, stops the journal until its next reset: the file always holds
 * a prefix of what was appended, so the byte marks the spool keeps stay true. Lines hold what a rollup
 * keeps and nothing else.
 */
export class HitJournal {
  private readonly fd: number;
  private readonly sourceIndexes = new Map<Source, number>();
  /** The next source index; a reopened file's indexes stay taken. */
  private nextSource = 0;
  private generation: string;
  /** Bytes appended in this generation (the file reaches this once the queue is written). */
  private bytes: number;
  /** Lines appended and not yet handed to a write, and their size. */
  private queued: Buffer[] = [];
  private queuedBytes = 0;
  /** Hits among the queued lines. */
  private queuedHits = 0;
  /** Bytes of this generation in the file, whole lines only. */
  private written: number;
  private writing = false;
  /** Bytes of the write in flight. */
  private inFlight = 0;
  private truncateFirst = false;
  /** Counts resets, so a write of an earlier generation that fails does not stop the current one. */
  private epoch = 0;
  private stopped = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  /** Hits appended while stopped: counted in memory, not journalled. */
  unjournalled = 0;
  /** Times the journal stopped (a failed write, or the backlog bound). */
  stops = 0;

  private constructor(
    readonly file: string,
    existing: { generation: string; bytes: number; sources: number } | null,
    private readonly options: JournalOptions,
  ) {
    this.fd = fs.openSync(file, "a", 0o600);
    if (existing) {
      this.generation = existing.generation;
      this.bytes = existing.bytes;
      this.written = existing.bytes;
      this.nextSource = existing.sources;
    } else {
      this.generation = "";
      this.bytes = 0;
      this.written = 0;
      this.startGeneration();
    }
  }

  /**
   * Opens the journal at `file`, returning it and the hits an earlier run left in it, minus those the
   * spool already holds: `spooledUpTo(generation)` is the largest mark spooled for that generation.
   */
  static open(
    file: string,
    spooledUpTo: (generation: string) => number = () => 0,
    options: JournalOptions = {},
  ): { journal: HitJournal; replayed: Hit[]; tornBytes: number } {
    const content = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
    // A line cut short by a crash mid-write is cut off the file: appending after it would glue the next
    // hit to it and lose both.
    const whole = content.length === 0 ? 0 : content.lastIndexOf(0x0a) + 1;
    const tornBytes = content.length - whole;
    if (tornBytes > 0) fs.truncateSync(file, whole);
    const text = content.toString("utf8", 0, whole);
    if (text === "") return { journal: new HitJournal(file, null, options), replayed: [], tornBytes };
    const read = readJournal(text);
    const covered = spooledUpTo(read.generation);
    const replayed = read.hits.filter((entry) => entry.end > covered).map((entry) => entry.hit);
    const existing = { generation: read.generation, bytes: whole, sources: read.sources };
    return { journal: new HitJournal(file, existing, options), replayed, tornBytes };
  }

  /** Where the journal stands now: every hit appended so far lies before this mark. */
  mark(): JournalMark {
    return { generation: this.generation, bytes: this.bytes };
  }

  /** Queues one counted hit (its source once per journal generation); never blocks on the disk. */
  append(hit: Hit): void {
    if (this.stopped || this.closed) {
      this.unjournalled++;
      return;
    }
    let index = this.sourceIndexes.get(hit.source);
    let line = "";
    if (index === undefined) {
      index = this.nextSource++;
      this.sourceIndexes.set(hit.source, index);
      line = `${JSON.stringify({ source: index, value: hit.source })}\n`;
    }
    line += `${JSON.stringify([
      hit.at,
      hit.method,
      hit.operationId,
      hit.reason ?? null,
      hit.path,
      hit.status,
      index,
      hit.details ?? [],
    ])}\n`;
    if (this.queuedBytes + line.length > (this.options.maxBacklogBytes ?? MAX_JOURNAL_BACKLOG_BYTES)) {
      // What is queued is still written; nothing more until the next reset.
      this.unjournalled++;
      this.stop(`${this.queuedBytes} bytes wait for the disk`, false);
      return;
    }
    this.queuedHits++;
    this.queue(line);
  }

  /**
   * Empties the journal and starts a new generation: everything in it is now in a durable spooled batch.
   * Lines still queued are dropped (they are in that batch too); a stopped journal takes hits again.
   */
  reset(): void {
    if (this.closed) return;
    this.epoch++;
    this.queued = [];
    this.queuedBytes = 0;
    this.queuedHits = 0;
    this.stopped = false;
    this.truncateFirst = true;
    this.written = 0;
    this.sourceIndexes.clear();
    this.nextSource = 0;
    this.bytes = 0;
    this.startGeneration();
  }

  /** Resolves once every line appended so far is written (or given up on). */
  idle(): Promise<void> {
    if (!this.writing && this.queued.length === 0 && !this.truncateFirst) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Writes what is queued, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.idle();
    this.closed = true;
    fs.closeSync(this.fd);
  }

  private startGeneration(): void {
    this.generation = randomBytes(6).toString("hex");
    this.queue(`${JSON.stringify({ generation: this.generation })}\n`);
  }

  private queue(line: string): void {
    const data = Buffer.from(line);
    this.queued.push(data);
    this.queuedBytes += data.length;
    this.bytes += data.length;
    if (!this.writing) this.pump();
  }

  /**
   * Stops journalling until the next reset, and says why once. After a failed write (`dropQueued`) the
   * lines queued behind it are given up too, and counted.
   */
  private stop(reason: string, dropQueued: boolean): void {
    if (dropQueued) {
      this.unjournalled += this.queuedHits;
      this.queued = [];
      this.queuedBytes = 0;
      this.queuedHits = 0;
      // Marks handed out from now on do not reach past what the file holds.
      this.bytes = this.written + this.inFlight;
    }
    if (this.stopped) return;
    this.stopped = true;
    this.stops++;
    this.options.onStop?.({ reason });
  }

  /** Runs one step of the write queue: a pending truncation, or one write of everything queued. */
  private pump(): void {
    if (this.writing) return;
    if (this.truncateFirst) {
      this.writing = true;
      this.truncateFirst = false;
      fs.ftruncate(this.fd, 0, () => {
        // A truncation that fails leaves the last generation in the file: its hits are all spooled, and
        // the next open replays only what lies past the spool's marks.
        this.writing = false;
        this.pump();
      });
      return;
    }
    if (this.queued.length === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
      return;
    }
    const data = this.queued.length === 1 ? (this.queued[0] as Buffer) : Buffer.concat(this.queued);
    const hits = this.queuedHits;
    this.queued = [];
    this.queuedBytes = 0;
    this.queuedHits = 0;
    this.writing = true;
    this.inFlight = data.length;
    const epoch = this.epoch;
    const done = (error: Error | null) => {
      this.inFlight = 0;
      if (error && epoch === this.epoch) {
        this.unjournalled += hits;
        // Cut back to the last whole line, so the file stays a prefix of what was appended.
        fs.ftruncate(this.fd, this.written, () => {
          this.writing = false;
          this.stop(`cannot write: ${error.message}`, true);
          this.pump();
        });
        return;
      }
      if (!error && epoch === this.epoch) this.written += data.length;
      this.writing = false;
      this.pump();
    };
    writeAllAsync(this.fd, data, done);
  }
}

/** What a journal reports. */
export interface JournalOptions {
  /** The journal stopped taking hits until its next reset (a failed write, or the backlog bound). */
  onStop?: (stop: JournalStop) => void;
  /** Lines waiting for the disk, at most (default `MAX_JOURNAL_BACKLOG_BYTES`). */
  maxBacklogBytes?: number;
}

/** Writes all of `data` asynchronously, continuing after short writes. */
function writeAllAsync(fd: number, data: Buffer, done: (error: Error | null) => void, from = 0): void {
  fs.write(fd, data, from, data.length - from, null, (error, count) => {
    if (error) return done(error);
    if (from + count < data.length) return writeAllAsync(fd, data, done, from + count);
    done(null);
  });
}

/** Writes all of `data`, continuing after short writes; throws what the system call throws. */
export function writeAll(fd: number, data: Buffer): void {
  for (let done = 0; done < data.length; ) done += fs.writeSync(fd, data, done, data.length - done);
}

/** A journal's content: its generation, its hits with the byte offset each line ends at, its source count. */
interface JournalContent {
  generation: string;
  hits: { hit: Hit; end: number }[];
  sources: number;
}

/** Parses a journal's whole lines; a line that is not JSON is skipped. */
function readJournal(text: string): JournalContent {
  const sources: Source[] = [];
  const content: JournalContent = { generation: "", hits: [], sources: 0 };
  let end = 0;
  for (const line of text.split("\n")) {
    end += Buffer.byteLength(line) + 1;
    if (line === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    if (Array.isArray(value)) {
      const [at, method, operationId, reason, path, status, source, details] = value as [
        number,
        string,
        string | null,
        string | null,
        string,
        number | null,
        number,
        string[],
      ];
      const known = sources[source];
      if (!known) continue;
      const hit: Hit = {
        at,
        method,
        operationId,
        ...(reason ? { reason } : {}),
        path,
        status,
        source: known,
        details,
      };
      content.hits.push({ hit, end });
    } else if (value && typeof value === "object" && "generation" in value) {
      content.generation = String(value.generation);
    } else if (value && typeof value === "object") {
      const { source, value: definition } = value as { source: number; value: unknown };
      sources[source] = upgradeSource(definition);
      content.sources = Math.max(content.sources, source + 1);
    }
  }
  return content;
}
