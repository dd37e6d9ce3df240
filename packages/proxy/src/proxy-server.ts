import http, { type IncomingMessage, ServerResponse } from "node:http";
import http2 from "node:http2";
import net, { type AddressInfo, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import tls, { type SecureContext } from "node:tls";
import { requestTargetWatches } from "@apisnoop/openapi";
import type { LeafCertificate } from "./certificate-authority";
import { clientAddressKey } from "./client-address";
import {
  answeredInFull,
  answerParserError,
  type ClientRequest,
  type ClientResponse,
  clientAddress,
  type Http2Request,
  refuse,
  refuseOnSocket,
} from "./client-answers";
import { type ConnectPolicy, requestTargetProblem } from "./connect-policy";
import { answerConnect } from "./connect-tunnel";
import type { ProxyMode } from "./flow";
import type { FlowLifecycle } from "./flow-lifecycle";
import { HandshakeAdmission } from "./handshake-admission";
import { FirstRequestBound, http1ServerOptions } from "./http1-server";
import { ClientHttp2Sessions, http2ServerOptions } from "./http2-client-sessions";
import { type ConnectionLimits, DEFAULT_LIMITS } from "./limits";
import type { ProxyMetrics } from "./metrics";
import { RequestsInFlight } from "./requests-in-flight";
import { tunnelUpgrade, type UpgradeContext } from "./upgrade-tunnel";
import type { Upstream } from "./upstream";
import { UpstreamRelay } from "./upstream-relay";
import type { RetryLimits } from "./upstream-retry";
import type { UpstreamSessionLimits } from "./upstream-sessions";

/** A watch ended by a drain has lasted at least this long: client-go calls a shorter one with no event "very short" and backs off. */
const SHORTEST_WATCH_MS = 1000;

/**
 * Where a drain is: `grace` keeps connections with nothing in flight open and answers what comes on them
 * (`drainGraceMs`); `closing` closes every connection once it has nothing in flight.
 */
type DrainPhase = "serving" | "grace" | "closing";

export interface ProxyServerOptions {
  upstream: Upstream;
  /**
   * The one leaf the proxy presents, issued at start-up for every name it expects (see `expectedHosts`).
   * No certificate is signed after start: a client naming anything else gets this leaf, and its own
   * verification error.
   */
  defaultLeaf: LeafCertificate;
  /** Runs each flow's addon hooks; the transport only reports what happened on the wire. */
  flows: FlowLifecycle;
  metrics: ProxyMetrics;
  /** Which CONNECTs are decrypted, tunnelled or refused. */
  connectPolicy: ConnectPolicy;
  /** Bounds on connections and timeouts (default: DEFAULT_LIMITS). */
  limits?: Partial<ConnectionLimits>;
  /** Bounds on the HTTP/2 sessions to the apiserver (default: DEFAULT_UPSTREAM_SESSION_LIMITS). */
  upstreamSessions?: Partial<UpstreamSessionLimits>;
  /** Bounds on the bodies held to retry requests the apiserver did not process (default: DEFAULT_RETRY_LIMITS). */
  upstreamRetries?: Partial<RetryLimits>;
  /** One-line operational messages (never headers or bodies). */
  log?: (line: string) => void;
}

/**
 * The man in the middle. One TCP port serves both ways in, told apart by the first byte:
 * - reverse: a TLS ClientHello (0x16), the client's `server` is this proxy;
 * - forward: a plain `CONNECT host:port`, then TLS inside the tunnel with a leaf for that host.
 * TLS offers `h2` and `http/1.1` (ALPN), and each connection goes to Node's HTTP/2 or HTTP/1.1 server by
 * what it negotiated. Requests go upstream over HTTP/2 sessions, one per credential (UpstreamSessions),
 * else over HTTP/1.1, streamed both ways with back-pressure (HTTP/2 flow control upstream); upgrades
 * (exec/attach/portforward over SPDY or WebSocket, HTTP/1.1 only) are tunnelled as raw bytes after the
 * request head.
 * What happens to each request is reported to the flow lifecycle (`flows`), which runs the addons.
 *
 * This module is the listener: the first byte, TLS and its handshake turns, the servers behind it, the
 * requests in flight and the drain. The rest is decided elsewhere: the HTTP/1.1 and HTTP/2 client sides
 * (http1-server.ts, http2-client-sessions.ts), CONNECT (connect-tunnel.ts), the way upstream and back
 * (upstream-relay.ts), protocol switches (upgrade-tunnel.ts), the flow hand-off (flow-request.ts) and
 * the proxy's own answers (client-answers.ts).
 */
export class ProxyServer {
  private readonly listener: net.Server;
  private readonly reverseTls: tls.Server;
  private readonly forwardTls: tls.Server;
  /** The HTTP/1.1 servers behind each TLS server (connections that negotiated `http/1.1` or nothing). */
  private readonly http1Servers: http.Server[] = [];
  /** The TLS connections handed to them (what a drain counts when it closes idle ones). */
  private readonly http1Connections = new Set<tls.TLSSocket>();
  private readonly http2Sessions: ClientHttp2Sessions;
  private readonly connectServer: http.Server;
  /** The way upstream and back, with the upstream sessions and pools. */
  private readonly relay: UpstreamRelay;
  private readonly upgrades: UpgradeContext;
  private readonly sockets = new Set<Duplex>();
  /** Requests in flight (responses not yet finished), and each client address's share of them. */
  private readonly active: RequestsInFlight;
  private readonly limits: ConnectionLimits;
  /** Each client address's TLS handshakes in progress, and the connections waiting for a turn. */
  private readonly handshakes: HandshakeAdmission;
  /** Ends the handshake turn of a connection, by its remote `address|port`, once it is secure. */
  private readonly handshakeTurns = new Map<string, () => void>();
  /** TLS connections that have not sent a request yet. */
  private readonly firstRequest: FirstRequestBound;
  private drainPhase: DrainPhase = "serving";
  private lastUpstreamErrorLog = 0;

  constructor(private readonly options: ProxyServerOptions) {
    const { upstream, defaultLeaf, metrics, flows } = options;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.active = new RequestsInFlight(
      this.limits.maxRequestsInFlight,
      this.limits.maxRequestsInFlightPerAddress,
    );
    this.relay = new UpstreamRelay({
      upstream,
      flows,
      metrics,
      upstreamSessions: options.upstreamSessions,
      upstreamRetries: options.upstreamRetries,
      active: this.active,
      logRarely: (line) => this.logAtMostEvery10s(line),
    });
    this.upgrades = {
      upstream,
      flows,
      metrics,
      limits: this.limits,
      relay: this.relay,
      track: (socket) => this.track(socket),
    };
    this.handshakes = new HandshakeAdmission(this.limits.handshakesPerAddress, {
      ratePerAddress: this.limits.handshakeRatePerAddress,
    });
    metrics.handshakes = this.handshakes;
    this.http2Sessions = new ClientHttp2Sessions(this.limits, metrics);
    this.firstRequest = new FirstRequestBound(this.limits.headersTimeoutMs, metrics);

    const httpOptions = http1ServerOptions(this.limits);
    const tlsOptions: tls.TlsOptions = {
      key: defaultLeaf.key,
      cert: defaultLeaf.cert,
      SNICallback: (name, cb) => this.contextFor(name, cb),
      handshakeTimeout: this.limits.handshakeTimeoutMs,
      ALPNProtocols: ["h2", "http/1.1"],
    };
    const http2Options = http2ServerOptions(this.limits);
    this.reverseTls = tls.createServer(tlsOptions);
    this.forwardTls = tls.createServer(tlsOptions);
    for (const [server, mode] of [
      [this.reverseTls, "reverse"],
      [this.forwardTls, "forward"],
    ] as const) {
      const http1 = http.createServer(httpOptions);
      this.http1Servers.push(http1);
      http1.on("request", (req: IncomingMessage, res: ServerResponse) => this.onRequest(mode, req, res));
      http1.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        this.firstRequest.arrived(socket);
        const problem = requestTargetProblem(req.url);
        if (problem) {
          metrics.countRefused(problem.code === 403 ? "absolute-form" : "request target");
          refuseOnSocket(socket, problem.code, problem.message);
          return;
        }
        tunnelUpgrade(this.upgrades, mode, req, socket, head);
      });
      http1.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) =>
        this.onClientError(error, socket),
      );
      const h2 = http2.createServer(http2Options);
      // Node's core stream API, not its compatibility layer ('request'), which would wrap each stream in
      // two more streams: the headers Node gives the listener are validated by nghttp2 already.
      h2.on("stream", ((
        stream: http2.ServerHttp2Stream,
        headers: http2.IncomingHttpHeaders,
        _flags: number,
        rawHeaders: string[],
      ) => this.onHttp2Stream(mode, stream, headers, rawHeaders)) as (
        stream: http2.ServerHttp2Stream,
        headers: http2.IncomingHttpHeaders,
      ) => void);
      h2.on("session", (session: http2.ServerHttp2Session) => this.http2Sessions.add(session));
      // A client that does not trust our CA, or garbage where a handshake should be: its own error to report.
      // Node only reports a failed handshake (its timeout included) here and leaves the connection open:
      // a client that sends one byte of a ClientHello would hold it for good.
      server.on("tlsClientError", (error: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
        metrics.countTlsError(tlsErrorKind(error));
        socket.destroy();
      });
      server.on("secureConnection", (socket: tls.TLSSocket) => {
        this.handshakeTurns.get(turnKey(socket))?.();
        if (socket.alpnProtocol === "h2") {
          h2.emit("connection", socket);
          return;
        }
        this.firstRequest.start(socket);
        this.http1Connections.add(socket);
        socket.once("close", () => this.http1Connections.delete(socket));
        http1.emit("connection", socket);
      });
    }
    this.connectServer = http.createServer(httpOptions, (req, res) => {
      const problem = requestTargetProblem(req.url);
      const [code, message] =
        problem?.code === 403
          ? [403, problem.message]
          : [400, "apisnoop proxy: speak TLS (reverse mode) or CONNECT (forward mode)"];
      metrics.countRefused(code === 403 ? "absolute-form" : "plain http");
      refuse(res, code, message);
    });
    this.connectServer.on("connect", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      answerConnect(
        {
          connectPolicy: options.connectPolicy,
          metrics,
          limits: this.limits,
          draining: () => this.drainPhase === "closing",
          intercept: (tunnel) => this.handshakeInTurn(tunnel, this.forwardTls),
          track: (tunnel) => this.track(tunnel),
        },
        req,
        socket,
        head,
      ),
    );
    this.connectServer.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) =>
      this.onClientError(error, socket),
    );

    this.listener = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) =>
      this.onConnection(socket),
    );
    // These servers get their connections from `listener`, never listen themselves; but Node starts the
    // connection tracking behind headersTimeout and closeIdleConnections() on 'listening' only. Without
    // it a client could trickle headers forever and a drain could not close idle keep-alive connections.
    for (const server of [...this.http1Servers, this.connectServer]) server.emit("listening");
    this.listener.maxConnections = this.limits.maxConnections;
    this.listener.on("drop", () => metrics.connectionsRefused++);
  }

  /** Starts listening; resolves to the bound address (port 0 picks a free port). */
  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.listener.once("error", reject);
      this.listener.listen({ host, port }, () => {
        this.listener.off("error", reject);
        // Accept failures (EMFILE under a connection flood) must not end the process: count and go on.
        this.listener.on("error", (error: NodeJS.ErrnoException) => {
          this.options.metrics.acceptErrors++;
          this.logAtMostEvery10s(`accepting a connection failed: ${error.code ?? error.message}`);
        });
        resolve(this.listener.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting, ends open connections (watches, tunnels) and the upstream pools. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.listener.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
      this.http2Sessions.destroy();
      for (const server of [...this.http1Servers, this.connectServer]) {
        server.closeAllConnections();
        server.close(() => {}); // stops its connection checks; it never listened, so the callback errs
      }
      this.relay.close();
    });
  }

  /**
   * Stops taking new connections and lets what is in flight end, as Envoy's drain and Go's
   * `http.Server.Shutdown` do. For `drainGraceMs` connections with nothing in flight stay open: a request
   * a client sent on one as the drain began (a pooled keep-alive connection, a connection just accepted)
   * is answered, not reset — over HTTP/1.1 with `Connection: close`, over HTTP/2 after a first GOAWAY that
   * refuses no stream (ClientHttp2Sessions). Answers in flight go out with `Connection: close`; watches
   * end between two events as the apiserver ends them at their timeout (complete responses: their clients
   * watch again, through another proxy, from their last resourceVersion). After the grace, connections are
   * closed as soon as nothing is in flight on them; whatever is still open after `timeoutMs` is closed.
   */
  async drain(timeoutMs: number): Promise<DrainSummary> {
    const started = performance.now();
    this.drainPhase = "grace";
    this.listener.close();
    this.http2Sessions.drainBegins();
    const inFlight = this.active.size;
    for (const res of this.active.keys()) if (res instanceof ServerResponse) res.shouldKeepAlive = false;
    /** Watches asked to end between events: those in flight, and those begun during the drain. */
    const ending: ClientResponse[] = [];
    let watchesCut = 0;
    const deadline = started + timeoutMs;
    const graceEnds = started + Math.min(this.limits.drainGraceMs, timeoutMs);
    let idleClosed = 0;
    for (;;) {
      const now = performance.now();
      for (const [res, request] of this.active) {
        if (!request.watch || request.ending) continue;
        if (request.endStream && now - request.startedAt >= SHORTEST_WATCH_MS) {
          request.ending = true;
          if (request.endStream() === "cut") watchesCut++;
          else ending.push(res);
        }
      }
      if (this.drainPhase === "grace" && now >= graceEnds) {
        this.drainPhase = "closing";
        idleClosed = this.closeIdleConnections();
      }
      // Every client has gone (or, after the grace, has nothing in flight): done.
      if (this.active.size === 0 && (this.drainPhase === "closing" || this.sockets.size === 0)) break;
      if (now >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    this.drainPhase = "closing";
    const cut = this.active.size;
    this.closeIdleConnections();
    return {
      inFlight,
      watchesEnded: ending.filter(answeredInFull).length,
      watchesCut,
      idleClosed,
      cut,
      ms: Math.round(performance.now() - started),
    };
  }

  /**
   * Closes the connections with nothing in flight, and sends every HTTP/2 session its final GOAWAY (its
   * streams in flight finish). Returns how many were idle.
   */
  private closeIdleConnections(): number {
    const open = [...this.http1Connections].filter((socket) => !socket.destroyed);
    for (const server of [...this.http1Servers, this.connectServer]) server.closeIdleConnections();
    return open.filter((socket) => socket.destroyed).length + this.http2Sessions.closeAll();
  }

  /** Tells TLS (reverse) from a CONNECT (forward) by the first byte, then hands the socket on. */
  private onConnection(socket: Socket): void {
    this.track(socket);
    const { metrics } = this.options;
    metrics.connectionsAccepted++;
    metrics.connectionsOpen++;
    socket.once("close", () => metrics.connectionsOpen--);
    socket.on("error", () => socket.destroy());
    // A peer that connects and stays silent holds a socket and memory: it gets this long to say anything.
    const silent = () => {
      metrics.countTimeout("first byte");
      socket.destroy();
    };
    socket.setTimeout(this.limits.firstByteTimeoutMs);
    socket.once("timeout", silent);
    socket.once("data", (first: Buffer) => {
      socket.setTimeout(0);
      socket.off("timeout", silent);
      socket.pause();
      socket.unshift(first);
      if (first[0] === 0x16) {
        // The TLS socket takes the buffered ClientHello from the paused socket itself, on its turn.
        this.handshakeInTurn(socket, this.reverseTls);
      } else {
        this.connectServer.emit("connection", socket);
        socket.resume();
      }
    });
    socket.resume();
  }

  /**
   * Hands `socket` to `server` for its TLS handshake when its client address has a turn (at once, unless
   * that address already has `handshakesPerAddress` in progress). The turn ends when the connection is
   * secure or closes; a connection that waits longer than the handshake timeout is closed.
   */
  private handshakeInTurn(socket: Duplex, server: tls.Server): void {
    const raw = socket as Socket;
    const key = turnKey(raw);
    const waitedTooLong = () => {
      this.options.metrics.countTimeout("handshake turn");
      raw.destroy();
    };
    let endTurn: (() => void) | null = null;
    const ended = () => {
      if (this.handshakeTurns.get(key) === ended) this.handshakeTurns.delete(key);
      endTurn?.();
    };
    raw.setTimeout(this.limits.handshakeTimeoutMs);
    raw.once("timeout", waitedTooLong);
    endTurn = this.handshakes.admit(clientAddressKey(raw.remoteAddress), () => {
      raw.off("timeout", waitedTooLong);
      raw.setTimeout(0);
      if (raw.destroyed) return; // closed while it waited: its 'close' ends the turn
      this.handshakeTurns.set(key, ended);
      server.emit("connection", raw);
    });
    raw.once("close", ended);
  }

  /**
   * An HTTP/2 client's request, as Node's core API gives it: what Node's compatibility layer decided
   * (CONNECT refused, `Expect` answered) decided here, then the same way as an HTTP/1.1 request.
   */
  private onHttp2Stream(
    mode: ProxyMode,
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    rawHeaders: string[],
  ): void {
    // Node throws an HTTP/2 stream's 'error' when nobody listens. The error also closes the stream,
    // which is what the flow reacts to.
    stream.on("error", ignoreStreamError);
    const method = headers[":method"];
    if (method === "CONNECT") {
      // No tunnel inside a tunnel: forward mode's CONNECT is HTTP/1.1, on the listener.
      this.options.metrics.countRefused("http2 connect");
      refuse(stream, 405, "apisnoop proxy: CONNECT over HTTP/2 is not served");
      return;
    }
    const expect = headers.expect;
    if (expect !== undefined) {
      if (expect !== "100-continue") {
        this.options.metrics.countRefused("expectation");
        refuse(stream, 417, "apisnoop proxy: only Expect: 100-continue is understood");
        return;
      }
      stream.additionalHeaders({ ":status": 100 });
    }
    const req: Http2Request = {
      stream,
      method,
      url: headers[":path"],
      headers,
      rawHeaders,
      remoteAddress: stream.session?.socket.remoteAddress,
    };
    this.onRequest(mode, req, stream);
  }

  /** A request as it arrives: refused when its target is no path or the proxy drains, else forwarded. */
  private onRequest(mode: ProxyMode, req: ClientRequest, res: ClientResponse): void {
    if (req instanceof http.IncomingMessage) this.firstRequest.arrived(req.socket);
    const problem = requestTargetProblem(req.url);
    if (problem) {
      this.options.metrics.countRefused(problem.code === 403 ? "absolute-form" : "request target");
      refuse(res, problem.code, problem.message);
      return;
    }
    // Until its response closes (the relay removes it).
    const refusal = this.active.admit(res, clientAddressKey(clientAddress(req)), {
      // A watch (a stream that may last hours) is ended by a drain, so its client re-watches elsewhere.
      watch: requestTargetWatches(req.url ?? ""),
      startedAt: performance.now(),
      endStream: null,
      ending: false,
    });
    if (refusal) {
      this.options.metrics.countRefused(refusal);
      refuse(res, 429, `apisnoop proxy: too many ${refusal}, retry`, { "retry-after": "1" });
      return;
    }
    // While draining, answers go out with `Connection: close` (HTTP/2: the session gets a GOAWAY): the
    // client's next request picks another proxy.
    if (this.drainPhase !== "serving" && res instanceof ServerResponse) res.shouldKeepAlive = false;
    this.relay.forward(mode, req, res);
  }

  /** A request the HTTP parser rejected (bad framing, oversized head, header timeout): answer it and close. */
  private onClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    // A connection that never sent a request has nothing to answer: closed as a first-request timeout.
    if (error.code === "ERR_HTTP_REQUEST_TIMEOUT" && this.firstRequest.expired(socket)) return;
    this.options.metrics.countRefused(answerParserError(error, socket));
    // The answer ends only the proxy's side; Node's parser, and its timeouts, have let go of the socket.
    // A client that never closes its own would hold the connection for good: let go of it as of an idle one.
    if (socket.destroyed) return;
    const linger = setTimeout(() => socket.destroy(), this.limits.idleTimeoutMs);
    linger.unref();
    socket.once("close", () => clearTimeout(linger));
  }

  private logAtMostEvery10s(line: string): void {
    const now = Date.now();
    if (now - this.lastUpstreamErrorLog < 10_000) return;
    this.lastUpstreamErrorLog = now;
    this.options.log?.(line);
  }

  /**
   * Every SNI name gets the one leaf issued at start: signing per name would let any client make the
   * proxy sign (CPU) and keep (memory) a certificate for every name it can invent. A name the leaf does
   * not cover is counted; its client fails verification with the names the leaf does cover.
   */
  private contextFor(name: string, cb: (error: Error | null, context?: SecureContext) => void): void {
    if (!this.options.defaultLeaf.hosts.includes(name.toLowerCase())) this.options.metrics.tlsUnknownNames++;
    cb(null);
  }

  private track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }
}

/** What a drain did. */
export interface DrainSummary {
  /** Requests in flight when the drain began. */
  inFlight: number;
  /** Watches (in flight or begun during the drain) ended between two events, for their clients to re-watch elsewhere. */
  watchesEnded: number;
  /** Watches cut instead, their framing unknown to the proxy. */
  watchesCut: number;
  /** Connections still open with nothing in flight at the end of the grace (`drainGraceMs`), closed then. */
  idleClosed: number;
  /** Requests still open at the deadline, closed then. */
  cut: number;
  ms: number;
}

/** An HTTP/2 stream's error: the stream closes with it, and its flow ends as aborted. */
function ignoreStreamError(): void {}

/** A connection's remote address and port: what tells it apart once TLS has wrapped it in another socket. */
function turnKey(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

/** A coarse, bounded label for a failed TLS handshake. */
function tlsErrorKind(error: NodeJS.ErrnoException): string {
  if (error.code === "ERR_TLS_HANDSHAKE_TIMEOUT") return "timeout";
  if (error.code === "ECONNRESET") return "reset";
  return /alert/i.test(error.message) ? "client alert" : "malformed";
}
