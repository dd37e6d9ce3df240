import fs from "node:fs";
import path from "node:path";
import type { IngestBatch } from "@apisnoop/protocol";
import { type JournalMark, writeAll } from "./hit-journal";

const SUFFIX = ".batch.json";
/** `<sequence>[.<journal generation>-<journal bytes>].batch.json`: the order, and what of the journal it holds. */
const NAME = /^(\d+)(?:\.([0-9a-f]*)-(\d+))?\.batch\.json$/;

/**
 * One spooled file: its path, size, the journal mark its hits reach, and its batches — one, or the parts
 * of a drain too big for one message, written together so a crash keeps all of them or none.
 */
export interface SpooledBatch {
  file: string;
  bytes: number;
  journal?: JournalMark;
  /** Its batches while they are held in memory too (written by this process), so sending reads nothing. */
  batches?: IngestBatch[];
  /** Batches of the file already acknowledged (or refused for good) in this process. */
  sent: number;
}

/** A spooled file that could not be sent, moved aside: where it went and why. */
export interface Quarantined {
  file: string;
  reason: string;
}

/** Batches written by this process stay in memory up to this many bytes, so the next sends read no file. */
const MAX_HELD_BYTES = 32 * 2 ** 20;
/**
 * The quarantine folder takes refused batches up to this many bytes: a web app that refuses everything
 * (a schema it does not know) must not fill the disk a second time. Past it a refused batch is only logged.
 */
export const MAX_QUARANTINE_BYTES = 64 * 2 ** 20;

/**
 * The durable queue of batches not yet acknowledged by the web app: one fsync'd file per batch, named by a
 * sequence number so replay keeps the order. A write is whole or absent (short writes continued, a
 * failed one's temporary file removed); a file that cannot be read later is quarantined, not deleted. A batch is written before it is sent and deleted only after
 * the web app acknowledged its commit, so neither an outage nor a restart of either side loses it.
 * Batches hold rollups only: no header, token or body value ever reaches the spool (GUIDE §4).
 */
export class BatchSpool {
  private readonly queue: SpooledBatch[] = [];
  private nextSequence = 1;
  private bytesHeld = 0;
  private bytesInMemory = 0;
  /** Batch files moved to `quarantineDir`, and refused batches written there, by this process. */
  quarantined = 0;
  /** Refused batches not kept because the quarantine folder held `MAX_QUARANTINE_BYTES` already. */
  quarantineOverflow = 0;
  private quarantineBytes = -1;
  /** Partial writes of an earlier run (`.tmp`) removed at open: never acknowledged, their hits journalled. */
  partialWritesRemoved = 0;

  private constructor(
    readonly dir: string,
    /** The spool refuses new batches past this many bytes (see `isFull`). */
    readonly maxBytes: number,
    /** Where a batch file that cannot be read or is not a batch is moved, never deleted unseen. */
    readonly quarantineDir: string,
    private readonly onQuarantine: (moved: Quarantined) => void,
  ) {}

  /**
   * Opens (creating) the spool directory and lists what an earlier run left, oldest first. Unreadable
   * batch files met later are moved to `quarantineDir` (default: `quarantine` in `dir`) and reported.
   */
  static open(
    dir: string,
    maxBytes: number,
    options: { quarantineDir?: string; onQuarantine?: (moved: Quarantined) => void } = {},
  ): BatchSpool {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const resolved = path.resolve(dir);
    const spool = new BatchSpool(
      resolved,
      maxBytes,
      options.quarantineDir ?? path.join(resolved, "quarantine"),
      options.onQuarantine ?? (() => {}),
    );
    const names = fs
      .readdirSync(spool.dir)
      .filter((name) => NAME.test(name))
      .sort();
    for (const name of names) {
      const [, sequence, generation, journalBytes] = NAME.exec(name) as RegExpExecArray;
      const file = path.join(spool.dir, name);
      const bytes = fs.statSync(file).size;
      const journal = generation !== undefined ? { generation, bytes: Number(journalBytes) } : undefined;
      spool.queue.push({ file, bytes, sent: 0, ...(journal ? { journal } : {}) });
      spool.bytesHeld += bytes;
      spool.nextSequence = Math.max(spool.nextSequence, Number(sequence) + 1);
    }
    // Temporary files are batches whose write was cut short: they were never acknowledged nor complete.
    for (const name of fs.readdirSync(spool.dir)) {
      if (!name.endsWith(".tmp")) continue;
      fs.rmSync(path.join(spool.dir, name), { force: true });
      spool.partialWritesRemoved++;
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
   * Writes batches durably as one file (write, fsync, rename, fsync the directory) and queues them.
   * `journal` marks how far the hit journal is held by these batches and those before them; the rename
   * records both at once.
   */
  put(batches: IngestBatch | IngestBatch[], journal?: JournalMark): SpooledBatch {
    const parts = Array.isArray(batches) ? batches : [batches];
    const mark = journal ? `.${journal.generation}-${journal.bytes}` : "";
    const name = `${String(this.nextSequence).padStart(12, "0")}${mark}${SUFFIX}`;
    const file = path.join(this.dir, name);
    const temporary = `${file}.tmp`;
    const data = Buffer.from(JSON.stringify(parts.length === 1 ? parts[0] : parts));
    try {
      const fd = fs.openSync(temporary, "w", 0o600);
      try {
        writeAll(fd, data);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temporary, file);
      syncDirectory(this.dir);
    } catch (error) {
      // A disk that filled up (ENOSPC) or failed mid-write leaves no partial file behind to fill it more.
      fs.rmSync(temporary, { force: true });
      throw error;
    }
    this.nextSequence++;
    const entry: SpooledBatch = { file, bytes: data.length, sent: 0, ...(journal ? { journal } : {}) };
    if (this.bytesInMemory + data.length <= MAX_HELD_BYTES) {
      entry.batches = parts;
      this.bytesInMemory += data.length;
    }
    this.queue.push(entry);
    this.bytesHeld += entry.bytes;
    return entry;
  }

  /**
   * The oldest batch not yet sent (from memory, or read back from disk); null when the spool is empty. A
   * file that cannot be read, or holds no batch, is moved to the quarantine folder and reported, never
   * deleted.
   */
  peek(): { entry: SpooledBatch; batch: IngestBatch } | null {
    while (this.queue.length > 0) {
      const entry = this.queue[0] as SpooledBatch;
      const held = entry.batches;
      if (held?.[entry.sent]) return { entry, batch: held[entry.sent] as IngestBatch };
      let reason: string;
      try {
        const value: unknown = JSON.parse(fs.readFileSync(entry.file, "utf8"));
        const parts = Array.isArray(value) ? value : [value];
        reason = parts.length > 0 && parts.every(looksLikeBatch) ? "" : "not an ingest batch";
        if (!reason) {
          // Held while it is the head, so its further parts are not read again.
          entry.batches = parts as IngestBatch[];
          this.bytesInMemory += entry.bytes;
          if (parts[entry.sent]) return { entry, batch: parts[entry.sent] as IngestBatch };
          this.remove(entry);
          continue;
        }
      } catch (error) {
        reason = (error as NodeJS.ErrnoException).code
          ? `cannot read it: ${(error as Error).message}`
          : `not JSON: ${(error as Error).message}`;
      }
      this.quarantine(entry, reason);
    }
    return null;
  }

  /**
   * The batch `peek` gave was acknowledged (or refused for good): the file is deleted once all of its
   * batches are.
   */
  done(entry: SpooledBatch): void {
    entry.sent++;
    if (entry.sent >= (entry.batches?.length ?? 1)) this.remove(entry);
  }

  /** Deletes a spooled file and all its batches. */
  remove(entry: SpooledBatch): void {
    if (!this.forget(entry)) return;
    fs.rmSync(entry.file, { force: true });
  }

  /** Takes `entry` off the queue; false when it was not on it. */
  private forget(entry: SpooledBatch): boolean {
    const index = this.queue.indexOf(entry);
    if (index === -1) return false;
    this.queue.splice(index, 1);
    this.bytesHeld -= entry.bytes;
    if (entry.batches) this.bytesInMemory -= entry.bytes;
    return true;
  }

  /**
   * Keeps a batch the web app refused for good (not valid for it: retrying cannot help) in the quarantine
   * folder, beside the reason, for a person to look at; the caller then marks it `done`. False when it was
   * not kept (the folder holds its bound, or cannot be written), which the caller reports.
   */
  quarantineRefused(entry: SpooledBatch, batch: IngestBatch, reason: string): boolean {
    const data = Buffer.from(
      `${JSON.stringify({ refused: reason.slice(0, 2000), refusedAt: new Date().toISOString(), batch })}\n`,
    );
    try {
      if (this.quarantineBytes < 0) this.quarantineBytes = folderBytes(this.quarantineDir);
      if (this.quarantineBytes + data.length > MAX_QUARANTINE_BYTES) {
        this.quarantineOverflow++;
        return false;
      }
      fs.mkdirSync(this.quarantineDir, { recursive: true, mode: 0o700 });
      const name = `${path.basename(entry.file, SUFFIX)}.${entry.sent}.refused.json`;
      fs.writeFileSync(path.join(this.quarantineDir, name), data, { mode: 0o600 });
    } catch {
      this.quarantineOverflow++;
      return false;
    }
    this.quarantineBytes += data.length;
    this.quarantined++;
    return true;
  }

  /** Moves a batch file that cannot be sent into the quarantine folder, and says so. */
  private quarantine(entry: SpooledBatch, reason: string): void {
    this.forget(entry);
    const target = path.join(this.quarantineDir, path.basename(entry.file));
    try {
      fs.mkdirSync(this.quarantineDir, { recursive: true, mode: 0o700 });
      fs.renameSync(entry.file, target);
    } catch (error) {
      // Cannot be moved (gone, or another file system): it stays where it is, out of the queue until
      // the next start, which meets it again.
      reason += `; left in place: ${(error as Error).message}`;
    }
    this.quarantined++;
    this.quarantineBytes = -1;
    this.onQuarantine({ file: target, reason: reason.slice(0, 300) });
  }
}

/** Bytes of the files in `dir` (0 when it does not exist). */
function folderBytes(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let bytes = 0;
  for (const name of fs.readdirSync(dir)) bytes += fs.statSync(path.join(dir, name)).size;
  return bytes;
}

/** The shape a spooled batch must have to be sent (the web app checks the rest). */
function looksLikeBatch(value: unknown): boolean {
  if (!value || typeof value !== "object") return false;
  const batch = value as Record<string, unknown>;
  return typeof batch.batchId === "string" && Array.isArray(batch.sources) && Array.isArray(batch.hits);
}

function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
