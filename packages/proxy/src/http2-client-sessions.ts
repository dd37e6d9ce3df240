/**
 * The client side of HTTP/2: what a client may make one session hold, and the sessions themselves —
 * counted, closed when idle or silent, told to go away by a drain, destroyed on close.
 */
import type http2 from "node:http2";
import type { ConnectionLimits } from "./limits";
import type { ProxyMetrics } from "./metrics";

/** What a client may make one HTTP/2 session hold (README "Threat model and limits"). */
export const HTTP2_CLIENT_LIMITS = Object.freeze({
  /** Streams open at once per session, as kube-apiserver allows; more are refused (RST_STREAM). */
  maxConcurrentStreams: 250,
  /** Header fields per request; more and the stream is refused. */
  maxHeaderListPairs: 128,
  /** MiB a session may hold in header tables, queued frames and unacknowledged data (Node's default). */
  maxSessionMemoryMiB: 10,
});

/** Node's HTTP/2 server options for client sessions: HTTP2_CLIENT_LIMITS, headers as large as HTTP/1.1's. */
export function http2ServerOptions(limits: ConnectionLimits): http2.ServerOptions {
  return {
    maxSessionMemory: HTTP2_CLIENT_LIMITS.maxSessionMemoryMiB,
    maxHeaderListPairs: HTTP2_CLIENT_LIMITS.maxHeaderListPairs,
    settings: {
      maxConcurrentStreams: HTTP2_CLIENT_LIMITS.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderBytes,
      enablePush: false,
    },
  };
}

/**
 * The client connections that negotiated HTTP/2. Bounded by HTTP2_CLIENT_LIMITS (Node and nghttp2 refuse
 * streams past them, and close sessions that flood SETTINGS, PINGs, resets or invalid frames); a session
 * with no stream open is closed after the idle timeout, one that opens none within the headers timeout.
 */
export class ClientHttp2Sessions {
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** Set by a drain: sessions get a GOAWAY, new ones at once. */
  private draining = false;

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly metrics: ProxyMetrics,
  ) {}

  /** Takes a new session: counts it, bounds its silence and idleness, forgets it when it closes. */
  add(session: http2.ServerHttp2Session): void {
    const { metrics } = this;
    this.sessions.add(session);
    metrics.http2Sessions++;
    let streams = 0;
    let idleTimer: NodeJS.Timeout | null = null;
    const idleFor = (ms: number, phase: string) => {
      idleTimer = setTimeout(() => {
        metrics.countTimeout(phase);
        session.close();
        // A client that ignores the GOAWAY and holds the connection gets it closed.
        setTimeout(() => session.destroy(), 1_000).unref();
      }, ms);
    };
    idleFor(this.limits.headersTimeoutMs, "first request");
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
      streams++;
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = null;
      stream.once("aborted", () => metrics.http2StreamsReset++);
      stream.once("close", () => {
        if (--streams === 0 && !session.closed && !session.destroyed)
          idleFor(this.limits.idleTimeoutMs, "idle");
      });
    });
    if (this.draining) session.close();
    session.on("error", (error: NodeJS.ErrnoException) => metrics.countHttp2Error(http2ErrorKind(error)));
    session.on("frameError", () => metrics.countHttp2Error("frame error"));
    session.once("close", () => {
      if (idleTimer) clearTimeout(idleTimer);
      this.sessions.delete(session);
      metrics.http2Sessions--;
    });
  }

  /** A drain: every session gets a GOAWAY (streams in flight finish, the next request opens a new connection). */
  goAway(): void {
    this.draining = true;
    for (const session of this.sessions) session.close();
  }

  /** Ends every session now. */
  destroy(): void {
    for (const session of this.sessions) session.destroy();
  }
}

/** A coarse, bounded label for a client HTTP/2 session error. */
function http2ErrorKind(error: NodeJS.ErrnoException): string {
  // nghttp2's own guards, as Node reports them (ERR_HTTP2_ERROR with nghttp2's message).
  if (/CONTINUATION/i.test(error.message)) return "continuation flood";
  if (/flood/i.test(error.message)) return "flood";
  if (error.code === "ERR_HTTP2_SESSION_ERROR") return "session error";
  if (error.code === "ERR_HTTP2_MAX_SESSION_MEMORY_EXCEEDED") return "session memory";
  if (error.code === "ECONNRESET") return "reset";
  return "other";
}
