import { hash } from "node:crypto";
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import tls from "node:tls";
import { type BoundedPoolLimits, type Upstream, upstreamTlsOptions } from "./upstream";
import { type RetryReason, unprocessedStream } from "./upstream-retry";

/**
 * Bounds on the proxy's HTTP/2 sessions to the apiserver, and on the HTTP/1.1 pool that requests the
 * apiserver takes as unauthenticated go over instead (`UpstreamSessions.unauthenticated`).
 */
export interface UpstreamSessionLimits {
  /** Sessions held at once, across credentials; past it a request goes over HTTP/1.1 and is counted. */
  maxSessions: number;
  /** A session with no stream open for this long is closed (Go's http2 transport idles 90 s too). */
  idleTimeoutMs: number;
  /**
   * Flow-control window per stream (bytes): what the apiserver may send ahead of a client that reads
   * slowly; a session's window is four of these. HTTP/2's default 64 KiB stalls a 118 KiB list on a round trip.
   */
  streamWindowBytes: number;
  /**
   * Bearer tokens the apiserver answered 401 over HTTP/2, remembered (as SHA-256 hashes) so that their
   * next requests go over HTTP/1.1; the least recently rejected is forgotten past this many.
   */
  rejectedCredentials: number;
  /** The HTTP/1.1 pool for requests the apiserver takes as unauthenticated. */
  unauthenticatedPool: BoundedPoolLimits;
  /**
   * Per client address, the sessions its unauthenticated requests that may not take the pool (a body, a
   * watch) open, one each: the turns `HandshakeAdmission` gives them.
   */
  sessionsAlone: SessionsAloneLimits;
}

/**
 * Per client address, the upstream sessions opened for its unauthenticated requests that have a body or
 * last (`UpstreamSessions.open` with `alone`). Each costs a TLS handshake to the apiserver, which answers
 * an anonymous request in a millisecond: without these, one client connection multiplexing anonymous
 * POSTs makes the proxy open upstream sessions as fast as it can, and takes the session bound from
 * valid credentials.
 */
export interface SessionsAloneLimits {
  /** Requests in progress at once (opening their session, until the apiserver's answer head). */
  perAddress: number;
  /** Sessions started per second, a second's worth at once (0: no limit). */
  ratePerAddress: number;
  /** Requests waiting for their address's turn; past it the next is answered 429. */
  queuedPerAddress: number;
  /** The rate's clock in ms and its timer (default `performance.now`, `setTimeout`); tests pass their own. */
  now?: () => number;
  later?: (run: () => void, ms: number) => void;
}

export const DEFAULT_UPSTREAM_SESSION_LIMITS: Readonly<UpstreamSessionLimits> = Object.freeze({
  maxSessions: 128,
  idleTimeoutMs: 90_000,
  streamWindowBytes: 1024 * 1024,
  // 1024 hashes are ~150 KiB. A client cycling through more rejected tokens than that costs a session
  // per token again, as any token seen for the first time does: bounded by maxSessions.
  rejectedCredentials: 1024,
  // An anonymous request (/version, /healthz, a 401 or 403) takes the apiserver a millisecond or so:
  // 32 connections carry thousands a second. The queue holds a burst of them (a client's 250 HTTP/2
  // streams, twice); past it they are answered 429. One client address holds at most a quarter of the
  // connections and an eighth of the queue: four addresses to hold every connection, eight the queue.
  unauthenticatedPool: Object.freeze({
    sockets: 32,
    queued: 512,
    socketsPerAddress: 8,
    queuedPerAddress: 64,
  }),
  // An anonymous request with a body is answered 401 or 403 in milliseconds, and a watch that is served
  // is rare without a credential: 4 at once and 20 a second is far more than a client needs, while 64
  // waiting (about 3 s at that rate) absorb a burst. Past them, 429.
  sessionsAlone: Object.freeze({ perAddress: 4, ratePerAddress: 20, queuedPerAddress: 64 }),
});

/** What the admin port shows of the upstream sessions. */
export interface UpstreamSessionStats {
  /** Sessions open now. */
  sessions: number;
  /** Streams (requests and watches) open now over them. */
  streams: number;
  /** Sessions opened since start. */
  opened: number;
  /** Requests sent over HTTP/1.1 because `maxSessions` were busy. */
  overflows: number;
  /** Bearer tokens remembered as rejected (their requests go over HTTP/1.1). */
  rejectedCredentials: number;
}

/**
 * Until the apiserver's SETTINGS arrive, a session takes this many streams (RFC 9113 recommends a peer
 * allow at least 100); kube-apiserver allows 250 by default.
 */
const STREAMS_BEFORE_SETTINGS = 100;

interface PooledSession {
  session: ClientHttp2Session;
  key: string;
  streams: number;
  idleTimer: NodeJS.Timeout | null;
  /** The apiserver sent GOAWAY, or the session failed: no new stream goes on it. */
  retired: boolean;
  /** Opened for one request (`sessionAlone`): no other stream goes on it, and it closes after it. */
  alone: boolean;
  /** The apiserver's SETTINGS arrived (its stream limit is known). */
  settled: boolean;
  /** Connected and settled: streams may go out. */
  connected: boolean;
  /** Resolves true once connected, false if the apiserver refused HTTP/2; rejects when unreachable. */
  ready: Promise<boolean>;
  /** The last-stream-id of the GOAWAY the apiserver sent: the streams above it it did not process. */
  lastStreamId: number | undefined;
}

/** After an apiserver refused HTTP/2, requests go over HTTP/1.1 this long before HTTP/2 is tried again. */
const HTTP1_ONLY_RETRY_MS = 60_000;

/**
 * HTTP/2 sessions to the apiserver, one per credential: per bearer token (the `Authorization` value,
 * kept only as its SHA-256), and one presenting the proxy's own client certificate for requests that
 * carry none. Sessions are never shared across credentials, so one client's stalled watch or stream flood
 * holds only its own session's flow-control window and stream slots. A credential whose session is full
 * (the apiserver's `maxConcurrentStreams`) gets another; idle sessions close after `idleTimeoutMs`; at
 * `maxSessions`, the least recently used idle one is closed, and when none is idle the caller falls back
 * to HTTP/1.1 (`open` returns null).
 *
 * kube-apiserver answers every HTTP/2 request it takes as unauthenticated with a GOAWAY after it
 * (UnauthenticatedHTTP2DOSMitigation, on by default; seen on v1.34): anonymous requests (no token, and
 * the proxy has no client certificate to present) and requests whose token it rejects (401). Over
 * HTTP/2 each would cost a TLS handshake and a session, and streams racing on that session are refused;
 * `unauthenticated` tells the caller to send those over HTTP/1.1 keep-alive instead, which the apiserver
 * keeps open. A token is taken as rejected once the apiserver answered it 401 here, and as accepted
 * again at its first answer that is not a 401 (`answered`): which way a request goes never changes
 * what it is answered. A client certificate of the proxy's that the apiserver rejects is not
 * remembered: every request without a token then fails, and costs a session as before.
 */
export class UpstreamSessions {
  private readonly byKey = new Map<string, PooledSession[]>();
  private readonly limits: UpstreamSessionLimits;
  private sessions = 0;
  private streams = 0;
  private opened = 0;
  private overflows = 0;
  /** Credential keys of tokens the apiserver answered 401, least recently rejected first. */
  private readonly rejected = new Set<string>();
  private closed = false;
  private http2RefusedUntil = 0;
  /** The session each stream went on, for `unprocessed` once the stream has failed. */
  private readonly sessionOf = new WeakMap<ClientHttp2Stream, PooledSession>();
  /**
   * The stream limit the apiserver announced last: what a session still connecting is assumed to take,
   * so a burst spreads over as many sessions as the apiserver will carry it on.
   */
  private announcedStreamLimit: number | null = null;

  constructor(
    private readonly upstream: Upstream,
    limits: Partial<UpstreamSessionLimits> = {},
  ) {
    this.limits = { ...DEFAULT_UPSTREAM_SESSION_LIMITS, ...limits };
  }

  /**
   * Opens a stream for a request carrying `authorization` (undefined: none): at once when the credential's
   * session is connected (the common case: no promise, no extra turn of the event loop on the hot path),
   * else once it is. Null when the request should go over HTTP/1.1 instead: every session slot is busy,
   * or the apiserver does not speak HTTP/2. Rejects when the apiserver cannot be reached (the caller's 502).
   */
  open(
    authorization: string | undefined,
    headers: http2.OutgoingHttpHeaders,
    endStream: boolean,
    /** A session of its own for this request (one the apiserver takes as unauthenticated). */
    alone = false,
  ): ClientHttp2Stream | null | Promise<ClientHttp2Stream | null> {
    if (this.closed || Date.now() < this.http2RefusedUntil) return null;
    const key = credentialKey(authorization);
    const withCertificate = authorization === undefined;
    const pooled = alone ? this.sessionAlone(key, withCertificate) : this.sessionFor(key, withCertificate);
    if (!pooled) {
      this.overflows++;
      return null;
    }
    // The slot is taken now, so requests arriving while the session connects spread over its limit.
    this.take(pooled);
    if (!pooled.connected) return this.openOnceConnected(pooled, headers, endStream);
    try {
      return this.request(pooled, headers, endStream);
    } catch (error) {
      this.release(pooled);
      return Promise.reject(error);
    }
  }

  /**
   * Whether the apiserver would take a request carrying `authorization` as unauthenticated (anonymous:
   * no credential, or an `Authorization` it ignores; or a token it just rejected): then it should go over
   * HTTP/1.1, not `open` a stream.
   */
  unauthenticated(authorization: string | undefined): boolean {
    if (!authorization) return !this.upstream.clientCertificate;
    // A header the apiserver ignores (another scheme, no token): anonymous, though a 401 never says so.
    if (!presentsBearerToken(authorization)) return true;
    return this.rejected.size > 0 && this.rejected.has(credentialKey(authorization));
  }

  /**
   * What the apiserver answered a request carrying `authorization` that went over HTTP/1.1 because it
   * was taken as rejected: any answer but 401 means the token is accepted now, and HTTP/2 again.
   */
  answered(authorization: string | undefined, status: number): void {
    if (authorization === undefined || status === 401 || this.rejected.size === 0) return;
    this.rejected.delete(credentialKey(authorization));
  }

  private async openOnceConnected(
    pooled: PooledSession,
    headers: http2.OutgoingHttpHeaders,
    endStream: boolean,
  ): Promise<ClientHttp2Stream | null> {
    let stream: ClientHttp2Stream | null = null;
    try {
      if (!(await pooled.ready)) return null;
      stream = this.request(pooled, headers, endStream);
      return stream;
    } finally {
      if (!stream) this.release(pooled);
    }
  }

  /** A stream on a connected session, holding the slot `open` took until the stream closes. */
  private request(
    pooled: PooledSession,
    headers: http2.OutgoingHttpHeaders,
    endStream: boolean,
  ): ClientHttp2Stream {
    if (pooled.session.destroyed || pooled.session.closed) throw new Error("the upstream session closed");
    const stream = pooled.session.request(headers, { endStream });
    this.sessionOf.set(stream, pooled);
    stream.on("close", () => this.release(pooled));
    if (pooled.key !== CLIENT_CERTIFICATE)
      stream.once("response", (answer: http2.IncomingHttpHeaders) => {
        if (Number(answer[":status"]) === 401) this.rememberRejected(pooled.key);
        // A remembered token's request that came this way all the same (a watch, a body): accepted now.
        else if (this.rejected.size > 0) this.rejected.delete(pooled.key);
      });
    return stream;
  }

  /**
   * Why the apiserver did not process `stream`, which failed before its answer's head (RFC 9113 §8.7),
   * so that it may be sent again; null when it may have. A session that refused a stream takes no new
   * one (as after a GOAWAY): the apiserver refuses streams when its limit dropped or it is going away,
   * so the retry goes on another session of the credential, or a fresh one.
   */
  unprocessed(stream: ClientHttp2Stream): RetryReason | null {
    const pooled = this.sessionOf.get(stream);
    const reason = unprocessedStream(stream, pooled?.lastStreamId);
    if (reason && pooled) this.retire(pooled);
    return reason;
  }

  stats(): UpstreamSessionStats {
    const { sessions, streams, opened, overflows } = this;
    return { sessions, streams, opened, overflows, rejectedCredentials: this.rejected.size };
  }

  /** Remembers a token the apiserver rejected, forgetting the least recently rejected past the bound. */
  private rememberRejected(key: string): void {
    this.rejected.delete(key);
    this.rejected.add(key);
    if (this.rejected.size > this.limits.rejectedCredentials) {
      const oldest = this.rejected.values().next().value;
      if (oldest !== undefined) this.rejected.delete(oldest);
    }
  }

  /**
   * Stops opening streams; sessions close once their streams end (GOAWAY), or at once with `destroy`.
   */
  close(destroy = false): void {
    this.closed = true;
    for (const list of this.byKey.values()) {
      for (const pooled of list) {
        if (pooled.idleTimer) clearTimeout(pooled.idleTimer);
        if (destroy) pooled.session.destroy();
        else pooled.session.close();
      }
    }
  }

  /** A session of this credential with a free stream slot, opening one if needed and allowed. */
  private sessionFor(key: string, withCertificate: boolean): PooledSession | null {
    const list = this.byKey.get(key);
    if (list) {
      for (const pooled of list)
        if (!pooled.retired && !pooled.alone && pooled.streams < this.streamLimit(pooled)) return pooled;
    }
    if (this.sessions >= this.limits.maxSessions && !this.closeOneIdle()) return null;
    return this.connect(key, withCertificate);
  }

  /**
   * A session for one request the apiserver takes as unauthenticated (one that may not take the
   * unauthenticated pool: a body, a watch): the apiserver ends the session after that request with a
   * GOAWAY and refuses any stream racing it there, so none may join it. It closes when its stream ends.
   */
  private sessionAlone(key: string, withCertificate: boolean): PooledSession | null {
    if (this.sessions >= this.limits.maxSessions && !this.closeOneIdle()) return null;
    const pooled = this.connect(key, withCertificate);
    pooled.alone = true;
    return pooled;
  }

  private take(pooled: PooledSession): void {
    this.streams++;
    pooled.streams++;
    if (pooled.idleTimer) {
      clearTimeout(pooled.idleTimer);
      pooled.idleTimer = null;
    }
  }

  private release(pooled: PooledSession): void {
    this.streams--;
    pooled.streams--;
    if (pooled.streams !== 0) return;
    if (pooled.alone) {
      this.retire(pooled);
      pooled.session.close();
    } else if (!pooled.retired) this.startIdleTimer(pooled);
  }

  private connect(key: string, withCertificate: boolean): PooledSession {
    const { upstream, limits } = this;
    const tlsOptions = upstreamTlsOptions(upstream, withCertificate);
    const session = http2.connect(`https://${upstream.authority}`, {
      settings: { initialWindowSize: limits.streamWindowBytes, enablePush: false },
      createConnection: () =>
        tls
          .connect({ ...tlsOptions, ALPNProtocols: ["h2"], host: upstream.host, port: upstream.port })
          .setNoDelay(true),
    });
    let settle: (connected: boolean) => void = () => {};
    let fail: (error: Error) => void = () => {};
    const ready = new Promise<boolean>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    // Awaited by each request that arrives while connecting; nobody may be waiting when it fails.
    ready.catch(() => {});
    const pooled: PooledSession = {
      session,
      key,
      streams: 0,
      idleTimer: null,
      retired: false,
      alone: false,
      settled: false,
      connected: false,
      ready,
      lastStreamId: undefined,
    };
    // Streams go out once the apiserver's SETTINGS are in as well as the connection: sent before, past
    // its (then unknown) stream limit, they would be refused (REFUSED_STREAM) rather than queued.
    let handshaken = false;
    const connectedOnceSettled = () => {
      if (!handshaken || !pooled.settled || pooled.connected) return;
      pooled.connected = true;
      settle(true);
    };
    session.once("remoteSettings", (settings: http2.Settings) => {
      pooled.settled = true;
      if (settings.maxConcurrentStreams !== undefined)
        this.announcedStreamLimit = settings.maxConcurrentStreams;
      connectedOnceSettled();
    });
    session.once("connect", () => {
      handshaken = true;
      try {
        session.setLocalWindowSize(4 * limits.streamWindowBytes);
      } catch {
        // The session failed between connecting and this call: its 'close' removes it.
      }
      connectedOnceSettled();
    });
    // Errors reach each stream as the stream's own 'error'; the session only needs to leave the pool.
    session.on("error", (error: NodeJS.ErrnoException) => {
      this.retire(pooled);
      if (pooled.connected) return;
      if (error.code === "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL" || error.code === "ERR_HTTP2_ERROR") {
        // An apiserver (or a balancer in front of it) that speaks only HTTP/1.1: use that for a while.
        this.http2RefusedUntil = Date.now() + HTTP1_ONLY_RETRY_MS;
        settle(false);
      } else fail(error);
    });
    session.once("close", () => settle(false));
    // A graceful shutdown may come as two GOAWAYs (the first with the highest stream id, the second with
    // the last one processed, as Envoy and nghttp2 send them): the lowest is what was not processed.
    session.on("goaway", (_code: number, lastStreamId: number) => {
      pooled.lastStreamId = Math.min(lastStreamId, pooled.lastStreamId ?? lastStreamId);
      this.retire(pooled);
    });
    session.once("close", () => this.remove(pooled));
    const list = this.byKey.get(key);
    if (list) list.push(pooled);
    else this.byKey.set(key, [pooled]);
    this.sessions++;
    this.opened++;
    return pooled;
  }

  /** No new streams on this session; it closes when its last stream ends. */
  private retire(pooled: PooledSession): void {
    if (pooled.retired) return;
    pooled.retired = true;
    if (pooled.idleTimer) clearTimeout(pooled.idleTimer);
    pooled.idleTimer = null;
    if (pooled.streams === 0) pooled.session.close();
  }

  private remove(pooled: PooledSession): void {
    const list = this.byKey.get(pooled.key);
    const index = list?.indexOf(pooled) ?? -1;
    if (!list || index === -1) return;
    list.splice(index, 1);
    if (list.length === 0) this.byKey.delete(pooled.key);
    if (pooled.idleTimer) clearTimeout(pooled.idleTimer);
    this.sessions--;
  }

  private startIdleTimer(pooled: PooledSession): void {
    pooled.idleTimer = setTimeout(() => this.retire(pooled), this.limits.idleTimeoutMs);
    pooled.idleTimer.unref();
  }

  /** Streams a session takes: the apiserver's SETTINGS, or before they arrive, what it announced last. */
  private streamLimit(pooled: PooledSession): number {
    const announced = pooled.settled ? pooled.session.remoteSettings?.maxConcurrentStreams : undefined;
    return announced ?? this.announcedStreamLimit ?? STREAMS_BEFORE_SETTINGS;
  }

  /** Closes an idle session to make room for another credential's; false if none is idle. */
  private closeOneIdle(): boolean {
    for (const list of this.byKey.values()) {
      for (const pooled of list) {
        if (pooled.streams === 0) {
          this.retire(pooled);
          this.remove(pooled);
          return true;
        }
      }
    }
    return false;
  }
}

/** The key of requests without a token (they present the proxy's client certificate, if it has one). */
const CLIENT_CERTIFICATE = "client certificate";

/** The pool's key for a credential: the hash of the `Authorization` value, never the value itself. */
function credentialKey(authorization: string | undefined): string {
  return authorization === undefined ? CLIENT_CERTIFICATE : hash("sha256", authorization, "base64");
}

/**
 * Whether kube-apiserver's bearer token authenticator reads a token from this `Authorization` value,
 * as it parses it: trimmed, `Bearer` in any case, one space, a token up to the next space. Any other
 * value (empty, `Basic …`, `Bearer` with no token or two spaces) it ignores, and the request is served
 * as anonymous: never a 401, but a GOAWAY after it over HTTP/2. Only ASCII white space is trimmed: a
 * value this reads as no token costs a place in the unauthenticated pool at worst, never a session.
 */
export function presentsBearerToken(authorization: string): boolean {
  let start = 0;
  let end = authorization.length;
  while (start < end && isAsciiSpace(authorization.charCodeAt(start))) start++;
  while (end > start && isAsciiSpace(authorization.charCodeAt(end - 1))) end--;
  return (
    end - start > 7 &&
    authorization.charCodeAt(start + 6) === 32 &&
    authorization.charCodeAt(start + 7) !== 32 &&
    authorization.slice(start, start + 6).toLowerCase() === "bearer"
  );
}

/** Go's `unicode.IsSpace` for ASCII: tab, line feed, vertical tab, form feed, carriage return, space. */
function isAsciiSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13);
}
