import fs from "node:fs";
import type { Hit, Source } from "@apisnoop/protocol";

/**
 * The write-ahead log of hits counted since the last spooled batch. Each hit is appended with one write
 * system call before the client's response ends: once in the kernel, a line survives the proxy being
 * killed (SIGKILL, OOM), so a hit a client saw answered is never lost. Replayed into the rollups on start,
 * emptied whenever the rollups it mirrors are spooled. Lines hold what a rollup keeps and nothing else.
 */
export class HitJournal {
  private readonly fd: number;
  private readonly sourceIndexes = new Map<Source, number>();

  private constructor(readonly file: string) {
    this.fd = fs.openSync(file, "a", 0o600);
  }

  /** Opens the journal at `file`, returning it and the hits an earlier run left in it. */
  static open(file: string): { journal: HitJournal; replayed: Hit[] } {
    const replayed = fs.existsSync(file) ? readJournal(fs.readFileSync(file, "utf8")) : [];
    return { journal: new HitJournal(file), replayed };
  }

  /** Appends one counted hit (its source once per journal generation). */
  append(hit: Hit): void {
    let index = this.sourceIndexes.get(hit.source);
    let line = "";
    if (index === undefined) {
      index = this.sourceIndexes.size;
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
    fs.writeSync(this.fd, line);
  }

  /** Empties the journal: everything in it is now in a durable spooled batch. */
  reset(): void {
    fs.ftruncateSync(this.fd, 0);
    this.sourceIndexes.clear();
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Parses a journal; a torn last line (the proxy killed mid-write) is skipped. */
function readJournal(text: string): Hit[] {
  const sources: Source[] = [];
  const hits: Hit[] = [];
  for (const line of text.split("\n")) {
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
      hits.push({
        at,
        method,
        operationId,
        ...(reason ? { reason } : {}),
        path,
        status,
        source: known,
        details,
      });
    } else if (value && typeof value === "object") {
      const { source, value: definition } = value as { source: number; value: Source };
      sources[source] = definition;
    }
  }
  return hits;
}
