import { createWriteStream, type WriteStream } from "node:fs";
import type { Hit, HitSink } from "./addons/record";

/**
 * Appends hits to a JSON-lines file. Lines are gathered and written once per event-loop turn, so a burst
 * of requests costs one write, not one per hit.
 */
export class HitsFile implements HitSink {
  private readonly stream: WriteStream;
  private pending: string[] = [];
  private scheduled = false;

  constructor(readonly path: string) {
    this.stream = createWriteStream(path, { flags: "a" });
  }

  write(hit: Hit): void {
    this.pending.push(JSON.stringify(hit));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    this.stream.write(`${this.pending.join("\n")}\n`);
    this.pending = [];
  }

  /** Writes what is pending and closes the file. */
  close(): Promise<void> {
    this.flush();
    return new Promise((resolve, reject) =>
      this.stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
  }
}
