import { createWriteStream, fchmod, type WriteStream } from "node:fs";
import type { HitLine } from "@apisnoop/protocol";
import type { HitSink } from "./addons/record";

const FLUSH_INTERVAL_MS = 50;
const MAX_PENDING_LINES = 1000;

/**
 * Appends hits to a JSON-lines file. Lines are gathered for up to 50 ms (or 1,000 lines) and written at
 * once: under load one file write serves hundreds of requests instead of one each. A failing file (disk
 * full, removed directory) is reported to `onError` and never takes the proxy down: recording is
 * analysis, not traffic.
 */
export class HitsFile implements HitSink {
  private readonly stream: WriteStream;
  private pending: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly onError: (error: Error) => void = () => {},
  ) {
    // Hits carry user agents, pod names and paths: readable by the proxy's user only, as a kubeconfig is.
    this.stream = createWriteStream(path, { flags: "a", mode: 0o600 });
    this.stream.on("error", (error) => this.onError(error));
    // The mode above applies to a new file only; one left by an older run is narrowed too.
    this.stream.once("open", (fd: number) => fchmod(fd, 0o600, (error) => error && this.onError(error)));
  }

  write(hit: HitLine): void {
    if (this.closed) return;
    this.pending.push(JSON.stringify(hit));
    if (this.pending.length >= MAX_PENDING_LINES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
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
