import fs from "node:fs";
import path from "node:path";
import type { IngestBatch } from "@apisnoop/protocol";
import type { JournalMark } from "./hit-journal";

const SUFFIX = ".batch.json";
/** `<sequence>[.<journal generation>-<journal bytes>].batch.json`: the order, and what of the journal it holds. */
const NAME = /^(\d+)(?:\.([0-9a-f]*)-(\d+))?\.batch\.json$/;

/** One spooled batch: its file, size, and the journal mark its hits reach. */
export interface SpooledBatch {
  file: string;
  bytes: number;
  journal?: JournalMark;
}

/**
 * The durable queue of batches not yet acknowledged by the web app: one fsync'd file per batch, named by a
 * sequence number so replay keeps the order. A batch is written before it is sent and deleted only after
 * the web app acknowledged its commit, so neither an outage nor a restart of either side loses it.
 * Batches hold rollups only: no header, token or body value ever reaches the spool (GUIDE §4).
 */
export class BatchSpool {
  private readonly queue: SpooledBatch[] = [];
  private nextSequence = 1;
  private bytesHeld = 0;

  private constructor(
    readonly dir: string,
    /** The spool refuses new batches past this many bytes (see `isFull`). */
    readonly maxBytes: number,
  ) {}

  /** Opens (creating) the spool directory and lists what an earlier run left, oldest first. */
  static open(dir: string, maxBytes: number): BatchSpool {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const spool = new BatchSpool(path.resolve(dir), maxBytes);
    const names = fs
      .readdirSync(spool.dir)
      .filter((name) => NAME.test(name))
      .sort();
    for (const name of names) {
      const [, sequence, generation, journalBytes] = NAME.exec(name) as RegExpExecArray;
      const file = path.join(spool.dir, name);
      const bytes = fs.statSync(file).size;
      const journal = generation !== undefined ? { generation, bytes: Number(journalBytes) } : undefined;
      spool.queue.push({ file, bytes, ...(journal ? { journal } : {}) });
      spool.bytesHeld += bytes;
      spool.nextSequence = Math.max(spool.nextSequence, Number(sequence) + 1);
    }
    // Temporary files are batches whose write was cut short: they were never acknowledged nor complete.
    for (const name of fs.readdirSync(spool.dir)) {
      if (name.endsWith(".tmp")) fs.rmSync(path.join(spool.dir, name), { force: true });
    }
    return spool;
  }

  /** Batches waiting. */
  get depth(): number {
    return this.queue.length;
  }

  /** Bytes waiting. */
  get bytes(): number {
    return this.bytesHeld;
  }

  /** No room for another batch: the caller keeps aggregating in memory until batches are acknowledged. */
  get isFull(): boolean {
    return this.bytesHeld >= this.maxBytes;
  }

  /** The largest journal mark spooled for `generation`: journalled hits before it are in the spool. */
  journalBytesSpooled(generation: string): number {
    let bytes = 0;
    for (const entry of this.queue) {
      if (entry.journal?.generation === generation) bytes = Math.max(bytes, entry.journal.bytes);
    }
    return bytes;
  }

  /**
   * Writes a batch durably (write, fsync, rename, fsync the directory) and queues it. `journal` marks how
   * far the hit journal is held by this batch and those before it; the rename records both at once.
   */
  put(batch: IngestBatch, journal?: JournalMark): SpooledBatch {
    const mark = journal ? `.${journal.generation}-${journal.bytes}` : "";
    const name = `${String(this.nextSequence++).padStart(12, "0")}${mark}${SUFFIX}`;
    const file = path.join(this.dir, name);
    const temporary = `${file}.tmp`;
    const data = JSON.stringify(batch);
    const fd = fs.openSync(temporary, "w", 0o600);
    try {
      fs.writeSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, file);
    syncDirectory(this.dir);
    const entry = { file, bytes: Buffer.byteLength(data), ...(journal ? { journal } : {}) };
    this.queue.push(entry);
    this.bytesHeld += entry.bytes;
    return entry;
  }

  /** The oldest batch, read back from disk; null when the spool is empty. A corrupt file is dropped. */
  peek(): { entry: SpooledBatch; batch: IngestBatch } | null {
    while (this.queue.length > 0) {
      const entry = this.queue[0] as SpooledBatch;
      try {
        return { entry, batch: JSON.parse(fs.readFileSync(entry.file, "utf8")) as IngestBatch };
      } catch {
        this.remove(entry);
      }
    }
    return null;
  }

  /** Deletes a batch the web app acknowledged (or refused for good). */
  remove(entry: SpooledBatch): void {
    const index = this.queue.indexOf(entry);
    if (index === -1) return;
    this.queue.splice(index, 1);
    this.bytesHeld -= entry.bytes;
    fs.rmSync(entry.file, { force: true });
  }
}

function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
