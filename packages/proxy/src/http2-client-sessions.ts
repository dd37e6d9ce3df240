/**
 * The client side of HTTP/2: what a client may make one session hold, and the sessions themselves —
 * counted, closed when idle or silent, told to go away by a drain, destroyed on close.
 */
import http2 from "node:http2";
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

/** HTTP/2's largest stream id: a GOAWAY naming it refuses no stream, it only asks for no new one (RFC 9113 §6.8). */
const LARGEST_STREAM_ID = 2 ** 31 - 1;

/** A client's session, as a drain sees it. */
interface SessionState {
  /** Streams open now. */
  streams: number;
  /** The drain's first GOAWAY (naming no stream) went out. */
  told: boolean;
}

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
  private readonly sessions = new Map<http2.ServerHttp2Session, SessionState>();
  /**
   * Where a drain is: in its `grace` a session is told with its next stream (see `tell`); once it is
   * `closing`, every session gets its final GOAWAY, new ones at once.
   */
  private drainPhase: "serving" | "grace" | "closing" = "serving";

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly metrics: ProxyMetrics,
  ) {}

  /** Takes a new session: counts it, bounds its silence and idleness, forgets it when it closes. */
  add(session: http2.ServerHttp2Session): void {
    const { metrics } = this;
    const state: SessionState = { streams: 0, told: false };
    this.sessions.set(session, state);
    metrics.http2Sessions++;
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
      state.streams++;
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = null;
      stream.once("aborted", () => metrics.http2StreamsReset++);
      stream.once("close", () => {
        if (--state.streams === 0 && !session.closed && !session.destroyed)
          idleFor(this.limits.idleTimeoutMs, "idle");
      });
      // During a drain's grace a session is told with its first stream since (this one is answered).
      if (this.drainPhase === "grace") this.tell(session, state);
    });
    // A session that begins during a drain's grace is told with its first stream; after it, at once.
    if (this.drainPhase === "closing") session.close();
    session.on("error", (error: NodeJS.ErrnoException) => metrics.countHttp2Error(http2ErrorKind(error)));
    session.on("frameError", () => metrics.countHttp2Error("frame error"));
    session.once("close", () => {
      if (idleTimer) clearTimeout(idleTimer);
      this.sessions.delete(session);
      metrics.http2Sessions--;
    });
  }

  /**
   * A drain begins: sessions with a stream open are told at once, idle ones with their next stream (a
   * request a client sent on one as the drain began is answered, not refused).
   */
  drainBegins(): void {
    this.drainPhase = "grace";
    for (const [session, state] of this.sessions) if (state.streams > 0) this.tell(session, state);
  }

  /**
   * The drain's grace is over: every session gets its final GOAWAY (streams in flight finish, the next
   * request opens a new connection), new ones at once. Returns how many had no stream open.
   */
  closeAll(): number {
    this.drainPhase = "closing";
    let idle = 0;
    for (const [session, state] of this.sessions) {
      if (session.closed || session.destroyed) continue;
      if (state.streams === 0) idle++;
      session.close();
    }
    return idle;
  }

  /** Ends every session now. */
  destroy(): void {
    for (const session of this.sessions.keys()) session.destroy();
  }

  /**
   * Tells a client that the proxy goes away, as RFC 9113 §6.8 has a server shut down gracefully: a
   * GOAWAY naming the largest stream id (it refuses no stream the client has sent; the client opens new
   * ones elsewhere), a PING, and once the PING is answered — the client has read the GOAWAY, and every
   * stream it sent before is in — the final GOAWAY naming the last stream taken; the streams in flight
   * finish. Only while a stream is open: once a GOAWAY has gone out, nghttp2 wants no more input from a
   * session without open streams and Node stops reading it, so a request racing the GOAWAY on an idle
   * session would go unanswered. An idle session is told with its next stream instead.
   */
  private tell(session: http2.ServerHttp2Session, state: SessionState): void {
    if (state.told || session.closed || session.destroyed) return;
    state.told = true;
    session.goaway(http2.constants.NGHTTP2_NO_ERROR, LARGEST_STREAM_ID);
    // Unanswered (too many PINGs outstanding, or the streams ended first and Node stopped reading): the
    // end of the grace sends the final GOAWAY.
    session.ping(() => {
      if (!session.closed && !session.destroyed) session.close();
    });
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
