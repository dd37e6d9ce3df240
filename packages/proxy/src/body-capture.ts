import type { BodyTap } from "./flow";

/** Bodies larger than this are counted but not analysed (`--body-cap`). */
export const DEFAULT_BODY_CAP = 2 * 1024 * 1024;

/**
 * Bytes of one body kept for field analysis, referenced (never copied) as they stream past. Capture stops
 * at the per-body cap or when the proxy-wide budget is spent; the body is then marked and not analysed,
 * while the stream itself is untouched.
 */
export class CapturedBody {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  /** Why the body will not be analysed, when capture gave up: "too large" or "capture budget". */
  skipped: "too large" | "capture budget" | null = null;
  /** The stream ended (a cut-off stream is not a whole body). */
  complete = false;
  /** A prefix capture reached the cap: what was kept is the start of the stream. */
  truncated = false;

  constructor(
    private readonly budget: CaptureBudget,
    /** Keep the first this many bytes of a stream that may never end (a watch) instead of giving up. */
    private readonly prefixBytes: number | null = null,
  ) {}

  /** Adds one chunk unless the cap or budget is hit; then drops what it had (or, for a prefix, stops). */
  add(chunk: Buffer): void {
    if (this.skipped || this.truncated) return;
    if (this.prefixBytes !== null && this.bytes + chunk.length > this.prefixBytes) {
      this.truncated = true;
      return;
    }
    if (this.bytes + chunk.length > this.budget.perBody) {
      this.skip("too large");
      return;
    }
    if (!this.budget.take(chunk.length)) {
      this.skip("capture budget");
      return;
    }
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  /** The captured bytes as one buffer. */
  bytesView(): Buffer {
    return this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.bytes);
  }

  /** Holds one of the budget's stream places (a prefix capture of a stream that may last hours). */
  holdsStream = false;

  /** Gives the bytes (and a stream place) back to the budget; call once analysis is over. */
  release(): void {
    this.budget.give(this.bytes);
    this.chunks.length = 0;
    this.bytes = 0;
    if (this.holdsStream) {
      this.holdsStream = false;
      this.budget.streamEnded();
    }
  }

  private skip(reason: "too large" | "capture budget"): void {
    this.skipped = reason;
    this.release();
  }
}

/**
 * How many body bytes all flows may hold at once, so a burst of large lists cannot grow the proxy's memory
 * without bound: past it, bodies are counted without field analysis.
 */
export class CaptureBudget {
  private held = 0;
  private streams = 0;

  constructor(
    readonly perBody = DEFAULT_BODY_CAP,
    readonly total = 64 * 1024 * 1024,
    /**
     * Prefix captures (watches) held at once. A watch keeps its prefix until it ends, hours later: without
     * this, a few hundred informers would hold the whole budget and starve every list and create of field
     * analysis. 32 watches of 256 KiB take at most 8 MiB of the 64.
     */
    readonly maxStreams = 32,
  ) {}

  /** Bytes currently held by captures. */
  get heldBytes(): number {
    return this.held;
  }

  take(bytes: number): boolean {
    if (this.held + bytes > this.total) return false;
    this.held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
  }

  /** Prefix captures (watches) holding a place now. */
  get heldStreams(): number {
    return this.streams;
  }

  streamEnded(): void {
    this.streams = Math.max(0, this.streams - 1);
  }

  /**
   * Starts capturing what `stream` emits; the stream's own consumers see exactly the same data. With
   * `prefixBytes`, only the stream's first bytes are kept (watches: their first events are analysed).
   */
  capture(stream: BodyTap, prefixBytes?: number): CapturedBody {
    const body = new CapturedBody(
      this,
      prefixBytes === undefined ? null : Math.min(prefixBytes, this.perBody),
    );
    if (prefixBytes !== undefined) {
      if (this.streams >= this.maxStreams) {
        body.skipped = "capture budget";
        return body;
      }
      this.streams++;
      body.holdsStream = true;
    }
    stream.on("data", (chunk: Buffer) => body.add(chunk));
    stream.once("end", () => {
      body.complete = true;
    });
    return body;
  }
}

const PROTOBUF = "application/vnd.kubernetes.protobuf";

/** Request bodies worth analysing: writes whose body is JSON or YAML (protobuf is counted, not read). */
export function capturesRequestBody(method: string, contentType: string | null): boolean {
  if (method !== "POST" && method !== "PUT" && method !== "PATCH") return false;
  return !contentType?.startsWith(PROTOBUF);
}

/**
 * Response bodies worth analysing: successful reads in JSON of the resource itself. Tables and partial
 * metadata (`;as=Table`, `;as=PartialObjectMetadata`, what kubectl get asks for) are other schemas.
 */
export function capturesResponseBody(method: string, status: number, contentType: string | null): boolean {
  if (method !== "GET" || status < 200 || status > 299 || !contentType) return false;
  return contentType.startsWith("application/json") && !contentType.includes("as=");
}
