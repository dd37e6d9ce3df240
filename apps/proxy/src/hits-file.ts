import { createWriteStream, type WriteStream } from "node:fs";
import type { Hit, HitSink } from "./addons/record";

/**
 * Appends hits to a JSON-lines file. Lines are gathered and written once per event-loop turn, so a burst
 * of requests costs one write, not one per hit. A failing file (disk full, removed directory) is reported
 * to `onError` and never takes the proxy down: recording is analysis, not traffic.
 */
export class HitsFile implements HitSink {
  private readonly stream: WriteStream;
  private pending: string[] = [];
  private scheduled = false;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly onError: (error: Error) => void = () => {},
  ) {
    this.stream = createWriteStream(path, { flags: "a" });
    this.stream.on("error", (error) => this.onError(error));
  }

  write(hit: Hit): void {
    if (this.closed) return;
    this.pending.push(JSON.stringify(hit));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0 || this.stream.destroyed) return;
    this.stream.write(`${this.pending.join("\n")}\n`);
    this.pending = [];
  }

  /** Writes what is pending and closes the file; later hits are dropped. */
  close(): Promise<void> {
    this.flush();
    this.closed = true;
    return new Promise((resolve) => this.stream.end(() => resolve()));
  }
}
