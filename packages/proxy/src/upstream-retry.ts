/**
 * Which requests the proxy sends to the apiserver a second time, and the bounded copy of a request body
 * that makes that possible. Only a request the apiserver provably did not process is sent again, whatever
 * its method, because HTTP/2 says which ones those are (RFC 9113 §8.7): a stream the apiserver reset with
 * REFUSED_STREAM, and a stream above the last-stream-id of a GOAWAY it sent (kube-apiserver shutting down
 * or rolling, a balancer ending its sessions, its stream limit lowered under a burst). Anything else — a
 * stream reset with another code, a connection lost, a timeout, any HTTP/1.1 failure — may have been
 * processed, and is answered 502 as before: sending a create or a patch twice is worse than a 502 the
 * client's own retry logic sees.
 */
import http2 from "node:http2";
import type { Readable, Writable } from "node:stream";

/** Why a request is sent again: the `reason` of `apisnoop_proxy_upstream_retries_total`. */
export type RetryReason = "refused stream" | "goaway";

/** Bounds on the request bodies held so that a request the apiserver did not process can be sent again. */
export interface RetryLimits {
  /** Bytes of one request body kept; a request whose body is larger is not retried (its 502 as before). */
  bodyBytes: number;
  /** Bytes of request bodies kept across all requests at once; past it a request is not retried. */
  totalBodyBytes: number;
}

export const DEFAULT_RETRY_LIMITS: Readonly<RetryLimits> = Object.freeze({
  // The field-analysis cap (`--body-cap`'s default): above etcd's 1.5 MiB object limit, so every object
  // the apiserver could store is replayable; only the rare larger body (kube-apiserver takes up to 3 MiB)
  // is not. Chunks are referenced, not copied, and held only until the answer's head arrives.
  bodyBytes: 2 * 1024 * 1024,
  // Sixteen such bodies, or thousands of the few-KiB creates and patches clients send: what clients
  // upload cannot grow the proxy's memory past this.
  totalBodyBytes: 32 * 1024 * 1024,
});

/** A request is sent again at most once: a second refusal means the apiserver is going away as a whole. */
export const MAX_RETRIES = 1;

/** The bytes of request bodies held for retries, across all requests. */
export class RetryBudget {
  private held = 0;

  constructor(readonly limits: RetryLimits = DEFAULT_RETRY_LIMITS) {}

  /** Bytes held now (`apisnoop_proxy_upstream_retry_body_bytes`). */
  get heldBytes(): number {
    return this.held;
  }

  /** Takes `bytes` of the budget; false (nothing taken) when that would pass `totalBodyBytes`. */
  take(bytes: number): boolean {
    if (this.held + bytes > this.limits.totalBodyBytes) return false;
    this.held += bytes;
    return true;
  }

  /** Gives back bytes `take` took. */
  give(bytes: number): void {
    this.held -= bytes;
  }
}

/**
 * Why the apiserver did not process `stream`, which failed before its answer's head (RFC 9113 §8.7); null
 * when it may have. `lastStreamId` is the last-stream-id of a GOAWAY its session received, if any.
 * nghttp2 closes the streams above it with REFUSED_STREAM too, so the GOAWAY is asked first: it is what
 * an operator wants to see counted.
 */
export function unprocessedStream(
  stream: http2.ClientHttp2Stream,
  lastStreamId: number | undefined,
): RetryReason | null {
  if (lastStreamId !== undefined && stream.id !== undefined && stream.id > lastStreamId) return "goaway";
  if (stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) return "refused stream";
  return null;
}

/**
 * A request body on its way upstream, with a copy of what has been read of it (up to the budget's
 * per-request bound) so that it can be sent again to another upstream stream. Past the bound, when the
 * budget is spent, or once the copy is no longer needed (`release`), the copy is dropped and the body can
 * no longer be sent again; it still streams on to its target. The chunks are referenced, not copied; the
 * body goes with back-pressure to whichever target it is sent to last.
 */
export class ReplayableBody {
  private chunks: Buffer[] | null = [];
  private bytes = 0;
  private ended = false;
  private target: Writable | null = null;

  /** `declaredBytes`: the request's Content-Length, if it has one; a larger one is never copied. */
  constructor(
    private readonly body: Readable,
    private readonly budget: RetryBudget,
    declaredBytes?: number,
  ) {
    if (declaredBytes !== undefined && declaredBytes > budget.limits.bodyBytes) this.chunks = null;
    body.on("data", (chunk: Buffer) => this.onData(chunk));
    body.on("end", () => {
      this.ended = true;
      this.target?.end();
    });
  }

  /** The whole body read so far is still held: it can be sent again. */
  get replayable(): boolean {
    return this.chunks !== null;
  }

  /** Sends the body to `target`: what was read of it first (a retry), then the rest as it comes. */
  sendTo(target: Writable): void {
    this.target = target;
    let full = false;
    for (const chunk of this.chunks ?? []) full = !target.write(chunk) || full;
    if (this.ended) {
      target.end();
      return;
    }
    if (full) this.resumeOnDrain(target);
    else this.body.resume();
  }

  /**
   * Holds the body for a retry until `sendTo` gives it its next target: the failed target gets nothing
   * more, and the body is paused so that what arrives meanwhile cannot push the copy past its bound
   * after the retry was decided (the retry's session may still be connecting).
   */
  park(): void {
    this.target = null;
    this.body.pause();
  }

  /** Drops the copy (the answer's head is in, the retry is sent, the request is over): the budget gets its bytes back. */
  release(): void {
    if (this.chunks === null) return;
    this.budget.give(this.bytes);
    this.chunks = null;
    this.bytes = 0;
  }

  private onData(chunk: Buffer): void {
    if (this.chunks !== null) {
      if (this.bytes + chunk.length > this.budget.limits.bodyBytes || !this.budget.take(chunk.length))
        this.release();
      else {
        this.chunks.push(chunk);
        this.bytes += chunk.length;
      }
    }
    const target = this.target;
    if (target && !target.write(chunk)) {
      this.body.pause();
      this.resumeOnDrain(target);
    }
  }

  /** Resumes the body when `target` drains, unless the body has moved on to another target (a retry). */
  private resumeOnDrain(target: Writable): void {
    target.once("drain", () => {
      if (this.target === target) this.body.resume();
    });
  }
}
