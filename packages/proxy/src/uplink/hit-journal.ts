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

/**
 * The write-ahead log of hits counted since the last spooled batch. Each hit is appended with one write
 * system call before the client's response ends: once in the kernel, a line survives the proxy being
 * killed (SIGKILL, OOM), so a hit a client saw answered is never lost. Replayed into the rollups on start
 * (past what the spool already holds), emptied whenever the rollups it mirrors are spooled. Lines hold
 * what a rollup keeps and nothing else.
 */
export class HitJournal {
  private readonly fd: number;
  private readonly sourceIndexes = new Map<Source, number>();
  /** The next source index; a reopened file's indexes stay taken. */
  private nextSource = 0;
  private generation: string;
  private bytes: number;

  private constructor(
    readonly file: string,
    existing: { generation: string; bytes: number; sources: number } | null,
  ) {
    this.fd = fs.openSync(file, "a", 0o600);
    if (existing) {
      this.generation = existing.generation;
      this.bytes = existing.bytes;
      this.nextSource = existing.sources;
    } else {
      this.generation = "";
      this.bytes = 0;
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
  ): { journal: HitJournal; replayed: Hit[]; tornBytes: number } {
    const content = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
    // A line cut short by a crash mid-write is cut off the file: appending after it would glue the next
    // hit to it and lose both.
    const whole = content.length === 0 ? 0 : content.lastIndexOf(0x0a) + 1;
    const tornBytes = content.length - whole;
    if (tornBytes > 0) fs.truncateSync(file, whole);
    const text = content.toString("utf8", 0, whole);
    if (text === "") return { journal: new HitJournal(file, null), replayed: [], tornBytes };
    const read = readJournal(text);
    const covered = spooledUpTo(read.generation);
    const replayed = read.hits.filter((entry) => entry.end > covered).map((entry) => entry.hit);
    const existing = { generation: read.generation, bytes: whole, sources: read.sources };
    return { journal: new HitJournal(file, existing), replayed, tornBytes };
  }

  /** Where the journal stands now: every hit appended so far lies before this mark. */
  mark(): JournalMark {
    return { generation: this.generation, bytes: this.bytes };
  }

  /** Appends one counted hit (its source once per journal generation). */
  append(hit: Hit): void {
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
    this.write(line);
  }

  /** Empties the journal and starts a new generation: everything in it is now in a durable spooled batch. */
  reset(): void {
    fs.ftruncateSync(this.fd, 0);
    this.sourceIndexes.clear();
    this.nextSource = 0;
    this.bytes = 0;
    this.startGeneration();
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private startGeneration(): void {
    this.generation = randomBytes(6).toString("hex");
    this.write(`${JSON.stringify({ generation: this.generation })}\n`);
  }

  /**
   * Appends whole lines or nothing: a short write is continued, and a failed one (ENOSPC, EIO) is cut
   * back to the last whole line before the error is thrown, so the next append starts a line of its own.
   */
  private write(line: string): void {
    const data = Buffer.from(line);
    try {
      writeAll(this.fd, data);
    } catch (error) {
      try {
        fs.ftruncateSync(this.fd, this.bytes);
      } catch {
        // The file is then longer than `bytes` by a torn line: the next open cuts it.
      }
      throw error;
    }
    this.bytes += data.length;
  }
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
