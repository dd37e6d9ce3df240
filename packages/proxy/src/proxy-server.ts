import http, { type IncomingMessage, ServerResponse } from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net, { type AddressInfo, type Socket } from "node:net";
import type { Duplex, Readable } from "node:stream";
import tls, { type SecureContext } from "node:tls";
import { requestTargetWatches } from "@apisnoop/openapi";
import type { LeafCertificate } from "./certificate-authority";
import { type ConnectPolicy, requestTargetProblem } from "./connect-policy";
import type { FlowRequest, ProxyMode } from "./flow";
import type { FlowLifecycle, LiveFlow } from "./flow-lifecycle";
import { HandshakeAdmission } from "./handshake-admission";
import {
  hasHeader,
  requestHeadersForHttp2,
  requestHeadersForUpstream,
  responseHeadersForClient,
} from "./http-headers";
import { type ConnectionLimits, DEFAULT_LIMITS } from "./limits";
import type { ProxyMetrics } from "./metrics";
import { statusBody } from "./status";
import { type Upstream, upstreamAgent, upstreamTlsOptions } from "./upstream";
import { type UpstreamSessionLimits, UpstreamSessions } from "./upstream-sessions";
import { watchFraming } from "./watch-framing";

/** A watch ended by a drain has lasted at least this long: client-go calls a shorter one with no event "very short" and backs off. */
const SHORTEST_WATCH_MS = 1000;

/** A request in flight, as a drain sees it. */
interface InFlight {
  watch: boolean;
  startedAt: number;
  /**
   * Ends a watch's stream of events, set once its head is in: between two events when the proxy knows
   * their framing (the client reads a complete response and watches again, elsewhere), else by a cut.
   */
  endStream: (() => "ended" | "cut") | null;
  /** A drain asked for the end (it comes with the event in progress, if one is half sent). */
  ending: boolean;
}

/** A client's request and response, over HTTP/1.1 or HTTP/2 (Node's compatibility API): one flow model. */
type ClientRequest = IncomingMessage | http2.Http2ServerRequest;
type ClientResponse = ServerResponse | http2.Http2ServerResponse;

/** What a client may make one HTTP/2 session hold (README "Threat model and limits"). */
export const HTTP2_CLIENT_LIMITS = Object.freeze({
  /** Streams open at once per session, as kube-apiserver allows; more are refused (RST_STREAM). */
  maxConcurrentStreams: 250,
  /** Header fields per request; more and the stream is refused. */
  maxHeaderListPairs: 128,
  /** MiB a session may hold in header tables, queued frames and unacknowledged data (Node's default). */
  maxSessionMemoryMiB: 10,
});

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
 */
export class ProxyServer {
  private readonly listener: net.Server;
  private readonly reverseTls: tls.Server;
  private readonly forwardTls: tls.Server;
  /** The HTTP/1.1 servers behind each TLS server (connections that negotiated `http/1.1` or nothing). */
  private readonly http1Servers: http.Server[] = [];
  private readonly http2Sessions = new Set<http2.ServerHttp2Session>();
  private readonly connectServer: http.Server;
  /** HTTP/2 sessions to the apiserver, one per credential. */
  private readonly sessions: UpstreamSessions;
  /** For clients that bring their own credential (a bearer token): never present ours. */
  private readonly agent: https.Agent;
  /** For clients without one, when the proxy's kubeconfig has a client certificate: present it. */
  private readonly certAgent: https.Agent;
  private readonly sockets = new Set<Duplex>();
  /** Requests in flight (responses not yet finished). */
  private readonly active = new Map<ClientResponse, InFlight>();
  private readonly limits: ConnectionLimits;
  /** Each client address's TLS handshakes in progress, and the connections waiting for a turn. */
  private readonly handshakes: HandshakeAdmission;
  /** Ends the handshake turn of a connection, by its remote `address|port`, once it is secure. */
  private readonly handshakeTurns = new Map<string, () => void>();
  /** TLS connections that have not sent a request yet, with their timeout handler. */
  private readonly untilFirstRequest = new WeakMap<Duplex, () => void>();
  private draining = false;
  private lastUpstreamErrorLog = 0;

  constructor(private readonly options: ProxyServerOptions) {
    const { upstream, defaultLeaf, metrics } = options;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.agent = upstreamAgent(upstream, false);
    this.certAgent = upstream.clientCertificate ? upstreamAgent(upstream, true) : this.agent;
    this.sessions = new UpstreamSessions(upstream, options.upstreamSessions);
    metrics.upstreamSessions = this.sessions;
    this.handshakes = new HandshakeAdmission(this.limits.handshakesPerAddress);
    metrics.handshakes = this.handshakes;

    const httpOptions: http.ServerOptions = {
      keepAliveTimeout: this.limits.idleTimeoutMs,
      // Watches and big uploads legitimately take long; clients and the apiserver set their own timeouts.
      requestTimeout: 0,
      headersTimeout: this.limits.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(5_000, this.limits.headersTimeoutMs),
      maxHeaderSize: this.limits.maxHeaderBytes,
      noDelay: true,
    };
    const tlsOptions: tls.TlsOptions = {
      key: defaultLeaf.key,
      cert: defaultLeaf.cert,
      SNICallback: (name, cb) => this.contextFor(name, cb),
      handshakeTimeout: this.limits.handshakeTimeoutMs,
      ALPNProtocols: ["h2", "http/1.1"],
    };
    const http2Options: http2.ServerOptions = {
      maxSessionMemory: HTTP2_CLIENT_LIMITS.maxSessionMemoryMiB,
      maxHeaderListPairs: HTTP2_CLIENT_LIMITS.maxHeaderListPairs,
      settings: {
        maxConcurrentStreams: HTTP2_CLIENT_LIMITS.maxConcurrentStreams,
        maxHeaderListSize: this.limits.maxHeaderBytes,
        enablePush: false,
      },
    };
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
        this.firstRequestArrived(socket);
        const problem = requestTargetProblem(req.url);
        if (problem) {
          metrics.countRefused(problem.code === 403 ? "absolute-form" : "request target");
          refuseOnSocket(socket, problem.code, problem.message);
          return;
        }
        this.tunnelUpgrade(mode, req, socket, head);
      });
      http1.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) =>
        this.onClientError(error, socket),
      );
      const h2 = http2.createServer(http2Options);
      h2.on("request", (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) =>
        this.onRequest(mode, req, res),
      );
      h2.on("session", (session: http2.ServerHttp2Session) => this.onHttp2Session(session));
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
        // Node times out neither a TLS connection that never sends a request (headersTimeout starts with
        // the first byte of one) nor one idle before its first request: bound that here.
        const silent = () => {
          metrics.countTimeout("first request");
          socket.destroy();
        };
        this.untilFirstRequest.set(socket, silent);
        socket.setTimeout(this.limits.headersTimeoutMs);
        socket.once("timeout", silent);
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
      this.onConnect(req, socket, head),
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
      for (const session of this.http2Sessions) session.destroy();
      for (const server of [...this.http1Servers, this.connectServer]) {
        server.closeAllConnections();
        server.close(() => {}); // stops its connection checks; it never listened, so the callback errs
      }
      this.sessions.close(true);
      this.agent.destroy();
      this.certAgent.destroy();
    });
  }

  /**
   * Stops taking new connections and requests, and lets the ones in flight end: idle keep-alive
   * connections close now, answers in flight go out with `Connection: close`, watches end between two
   * events as the apiserver ends them at their timeout (complete responses: their clients watch again,
   * through another proxy, from their last resourceVersion). Whatever is still open after `timeoutMs` is
   * closed.
   */
  async drain(timeoutMs: number): Promise<DrainSummary> {
    const started = performance.now();
    this.draining = true;
    this.listener.close();
    for (const server of [...this.http1Servers, this.connectServer]) server.closeIdleConnections();
    // HTTP/2 clients get a GOAWAY: streams in flight finish, the next request opens a new connection.
    for (const session of this.http2Sessions) session.close();
    const inFlight = this.active.size;
    for (const res of this.active.keys()) if (res instanceof ServerResponse) res.shouldKeepAlive = false;
    /** Watches asked to end between events: those in flight, and those begun during the drain. */
    const ending: ClientResponse[] = [];
    let watchesCut = 0;
    const deadline = started + timeoutMs;
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
      if (this.active.size === 0 || now >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const cut = this.active.size;
    for (const server of [...this.http1Servers, this.connectServer]) server.closeIdleConnections();
    return {
      inFlight,
      watchesEnded: ending.filter((res) => res.writableFinished).length,
      watchesCut,
      cut,
      ms: Math.round(performance.now() - started),
    };
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
    endTurn = this.handshakes.admit(raw.remoteAddress ?? "", () => {
      raw.off("timeout", waitedTooLong);
      raw.setTimeout(0);
      if (raw.destroyed) return; // closed while it waited: its 'close' ends the turn
      this.handshakeTurns.set(key, ended);
      server.emit("connection", raw);
    });
    raw.once("close", ended);
  }

  /**
   * Forward mode: decrypt a CONNECT to the Kubernetes API, pass one the operator allowed through as bytes,
   * refuse everything else before any socket is opened (ConnectPolicy).
   */
  private onConnect(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { metrics, connectPolicy } = this.options;
    const decision = connectPolicy.decide(req.url ?? "");
    metrics.countConnect(decision.action);
    if (decision.action === "refuse" || this.draining) {
      const [code, message] =
        decision.action === "refuse"
          ? [decision.code, decision.message]
          : [503, "apisnoop proxy: shutting down; connect again"];
      refuseOnSocket(socket, code, message);
      return;
    }
    if (decision.action === "intercept") {
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) socket.unshift(head);
      this.handshakeInTurn(socket, this.forwardTls);
      return;
    }
    // Allowed by name: a plain byte tunnel, neither decrypted nor recorded.
    const { host, port } = decision.target;
    const remote = net.connect({ host, port }, () => {
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) remote.write(head);
      socket.pipe(remote);
      remote.pipe(socket);
    });
    remote.setTimeout(this.limits.tunnelIdleTimeoutMs, () => {
      metrics.countTimeout("tunnel idle");
      remote.destroy();
    });
    this.track(remote);
    remote.on("error", () => {
      if (socket.writable)
        socket.end("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      socket.destroy();
    });
    socket.on("error", () => remote.destroy());
    socket.on("close", () => remote.destroy());
    remote.on("close", () => socket.destroy());
  }

  /**
   * Forwards one request and streams the answer back; the hot path. Over the credential's HTTP/2 session
   * to the apiserver, or over HTTP/1.1 when no session can be had (bound reached, no HTTP/2 upstream).
   */
  private forward(mode: ProxyMode, req: ClientRequest, res: ClientResponse): void {
    const { upstream, metrics } = this.options;
    const url = req.url ?? "/";
    const http2Client = req.httpVersionMajor === 2;
    const hasBody = http2Client
      ? !(req as http2.Http2ServerRequest).stream.endAfterHeaders
      : req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
    const live = this.options.flows.begin(mode, flowRequest(mode, req, upstream.basePath, false, hasBody));
    // An addon may tap the body ('data'), which starts it flowing: hold it until the upstream side is
    // there to take it (piping resumes it).
    if (hasBody) req.pause();
    const path = mode === "reverse" ? upstream.basePath + url : url;
    const method = req.method ?? "GET";
    /** Ends the upstream side when the client goes away; set once there is one. */
    let cancelUpstream: (() => void) | null = null;
    let clientGone = false;

    this.sessions
      .open(
        req.headers.authorization,
        requestHeadersForHttp2(req.rawHeaders, method, path, upstream.authority),
        !hasBody,
      )
      .then(
        (stream) => {
          if (clientGone) {
            stream?.close(http2.constants.NGHTTP2_CANCEL);
            return;
          }
          metrics.countProtocols(http2Client ? "h2" : "h1", stream ? "h2" : "h1");
          if (stream) {
            cancelUpstream = () => stream.close(http2.constants.NGHTTP2_CANCEL);
            this.relayHttp2(live, req, res, stream, hasBody, http2Client);
          } else {
            const upstreamRequest = this.relayHttp1(live, req, res, method, path, hasBody, http2Client);
            cancelUpstream = () => upstreamRequest.destroy();
          }
        },
        (error: Error) => {
          if (!clientGone) this.answerUpstreamFailure(live, error, res);
        },
      );
    req.on("error", () => cancelUpstream?.());
    res.on("close", () => {
      if (!res.writableFinished) {
        // The client went away (watch closed, request cancelled): stop the upstream side too.
        clientGone = true;
        live.aborted("client closed the connection");
        cancelUpstream?.();
      }
      live.end();
    });
  }

  /** Relays a request over an HTTP/2 stream to the apiserver (flow control does the back-pressure). */
  private relayHttp2(
    live: LiveFlow,
    req: ClientRequest,
    res: ClientResponse,
    stream: http2.ClientHttp2Stream,
    hasBody: boolean,
    http2Client: boolean,
  ): void {
    stream.on("response", (headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
      const status = Number(headers[":status"] ?? 502);
      live.responseHead(status, headers["content-type"] ?? null, stream);
      writeHead(res, status, undefined, responseHeadersForClient(rawHeaders, http2Client));
      if (!hasHeader(rawHeaders, "content-length")) flushHeadersUnlessBodyFollows(stream, res);
      this.relay(
        live,
        stream,
        res,
        () => stream.close(http2.constants.NGHTTP2_CANCEL),
        eventStreamType(status, rawHeaders, headers["content-type"]),
      );
    });
    stream.on("error", (error) => this.upstreamFailedMidway(live, error, res));
    if (hasBody) req.pipe(stream);
    else req.resume();
  }

  /** Relays a request over the HTTP/1.1 keep-alive pool (an apiserver without HTTP/2, or at the session bound). */
  private relayHttp1(
    live: LiveFlow,
    req: ClientRequest,
    res: ClientResponse,
    method: string,
    path: string,
    hasBody: boolean,
    http2Client: boolean,
  ): http.ClientRequest {
    const { upstream } = this.options;
    const upstreamRequest = https.request({
      agent: req.headers.authorization ? this.agent : this.certAgent,
      host: upstream.host,
      port: upstream.port,
      method,
      path,
      headers: requestHeadersForUpstream(
        http2Client ? withoutPseudoHeaders(req.rawHeaders) : req.rawHeaders,
        upstream.authority,
      ) as unknown as http.OutgoingHttpHeaders,
      setHost: false,
    });
    upstreamRequest.on("response", (answer) => {
      live.responseHead(answer.statusCode ?? 502, answer.headers["content-type"] ?? null, answer);
      writeHead(
        res,
        answer.statusCode ?? 502,
        answer.statusMessage,
        responseHeadersForClient(answer.rawHeaders, http2Client),
      );
      if (!hasHeader(answer.rawHeaders, "content-length")) flushHeadersUnlessBodyFollows(answer, res);
      this.relay(
        live,
        answer,
        res,
        () => upstreamRequest.destroy(),
        eventStreamType(answer.statusCode ?? 502, answer.rawHeaders, answer.headers["content-type"]),
      );
    });
    upstreamRequest.on("error", (error) => this.upstreamFailedMidway(live, error, res));
    if (!hasBody) {
      // No body (GET, most DELETEs): send at once rather than one tick later on the request's 'end'.
      upstreamRequest.end();
      req.resume();
    } else {
      req.pipe(upstreamRequest);
    }
    return upstreamRequest;
  }

  /** The upstream side failed: a 502 Status if the client has no answer yet, else its response is cut. */
  private upstreamFailedMidway(live: LiveFlow, error: Error, res: ClientResponse): void {
    if (res.writableEnded) return; // the client has its whole answer (a drain ended a watch)
    if (res.headersSent || res.destroyed) {
      live.aborted(error.message);
      res.destroy();
      return;
    }
    this.answerUpstreamFailure(live, error, res);
  }

  /**
   * A client connection that negotiated HTTP/2. Bounded by HTTP2_CLIENT_LIMITS (Node and nghttp2 refuse
   * streams past them, and close sessions that flood SETTINGS, PINGs, resets or invalid frames); a session
   * with no stream open is closed after the idle timeout, one that opens none within the headers timeout.
   */
  private onHttp2Session(session: http2.ServerHttp2Session): void {
    const { metrics } = this.options;
    this.http2Sessions.add(session);
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
      this.http2Sessions.delete(session);
      metrics.http2Sessions--;
    });
  }

  /**
   * Streams the upstream's answer to the client with back-pressure. The hit is counted (`complete`) before
   * the client's response ends, so a proxy killed at any moment has counted every response a client
   * received in full. A watch's answer is followed event by event, so that a drain can end it between two.
   */
  private relay(
    live: LiveFlow,
    answer: Readable,
    res: ClientResponse,
    cancelUpstream: () => void,
    /** The content type of a stream of events (a watch's 200 answer), else null. */
    eventStream: string | null,
  ): void {
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      live.complete();
      res.end();
    };
    answer.pipe(res, { end: false });
    answer.once("end", end);
    answer.on("error", () => {
      if (!ended) res.destroy();
    });
    const request = this.active.get(res);
    if (!request?.watch || eventStream === null) return;
    const framing = watchFraming(eventStream);
    if (!framing) {
      // A framing the proxy cannot follow (CBOR): cut.
      request.endStream = () => {
        res.destroy();
        return "cut";
      };
      return;
    }
    const follow = (chunk: Buffer) => framing.feed(chunk);
    answer.on("data", follow);
    request.endStream = () => {
      if (ended) return "ended";
      answer.unpipe(res);
      answer.off("data", follow);
      const finish = () => {
        answer.off("data", untilEventEnds);
        end();
        // The connection goes with the answer's last chunk: the client's next request (its new watch)
        // opens a new one, to another proxy, instead of reusing this one. An HTTP/2 stream ends with its
        // END_STREAM, and its session already has the drain's GOAWAY (ending the socket would cut the
        // session's other streams).
        if (res instanceof ServerResponse) res.socket?.end();
        cancelUpstream();
      };
      const out: NodeJS.WritableStream = res;
      const untilEventEnds = (chunk: Buffer) => {
        const eventEnd = framing.eventEndIn(chunk);
        if (eventEnd !== -1) {
          out.write(chunk.subarray(0, eventEnd));
          finish();
          return;
        }
        framing.feed(chunk);
        if (!out.write(chunk)) {
          answer.pause();
          res.once("drain", () => answer.resume());
        }
      };
      if (framing.betweenEvents) finish();
      else {
        answer.on("data", untilEventEnds);
        answer.resume();
      }
      return "ended";
    };
  }

  /**
   * A protocol switch (exec/attach/portforward: SPDY or WebSocket). The request goes upstream on a TLS
   * connection of its own and the answer is read as HTTP: only a `101` makes the connection a tunnel of raw
   * bytes both ways. Any other answer (403, 400, a 200 to a path that upgrades nothing) is an ordinary
   * response: recorded like one, sent with `Connection: close`, and the connection ends after it — were
   * it tunnelled, the client's next requests on it would reach the apiserver unseen and unbounded.
   */
  private tunnelUpgrade(mode: ProxyMode, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { upstream } = this.options;
    const url = req.url ?? "/";
    // Kubernetes' upgrades carry no body; one declared here could not be relayed if no switch follows.
    const length = req.headers["content-length"];
    if (req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0")) {
      this.options.metrics.countRefused("upgrade with a body");
      refuseOnSocket(socket, 400, "apisnoop proxy: a protocol switch request carries no body");
      return;
    }
    let remote: tls.TLSSocket | undefined;
    let upstreamRequest: http.ClientRequest;
    try {
      upstreamRequest = this.upgradeRequest(mode, req, url, (connection) => {
        remote = connection;
      });
    } catch {
      remote?.destroy();
      // Node's client refuses a header its server took (never seen, but a throw here would be uncaught).
      this.options.metrics.countRefused("upgrade headers");
      refuseOnSocket(socket, 400, "apisnoop proxy: a header of this request cannot be forwarded");
      return;
    }
    const live = this.options.flows.begin(mode, flowRequest(mode, req, upstream.basePath, true, false));
    this.track(socket);
    // Bytes the client sends before the switch wait for it (they belong to the new protocol).
    socket.pause();

    // The flow ends once both connections are closed; either closing ends the other.
    let open = 2;
    const closed = () => {
      if (--open === 0) live.end();
    };
    let answered = false;
    let complete = false;
    socket.on("error", () => upstreamRequest.destroy());
    socket.once("close", () => {
      if (!complete) live.aborted("client closed the connection");
      upstreamRequest.destroy();
      remote?.destroy();
      closed();
    });
    if (remote) remote.once("close", closed);
    else closed();

    upstreamRequest.on("upgrade", (answer: IncomingMessage, tunnel: Duplex, upstreamHead: Buffer) => {
      answered = true;
      complete = true;
      live.responseHead(101, null, null);
      socket.write(responseHeadText(answer, answer.rawHeaders));
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) tunnel.write(head);
      tunnel.pipe(socket);
      socket.pipe(tunnel);
      tunnel.on("error", () => socket.destroy());
      tunnel.once("close", () => socket.destroy());
    });
    upstreamRequest.on("response", (answer: IncomingMessage) => {
      answered = true;
      live.responseHead(answer.statusCode ?? 502, answer.headers["content-type"] ?? null, answer);
      // The body is delimited by the close: no chunked framing to redo; a length the upstream gave stays.
      const headers = responseHeadersForClient(answer.rawHeaders);
      const kept: string[] = [];
      for (let i = 0; i < headers.length; i += 2)
        if (headers[i]?.toLowerCase() !== "transfer-encoding")
          kept.push(headers[i] ?? "", headers[i + 1] ?? "");
      socket.write(responseHeadText(answer, [...kept, "Connection", "close"]));
      answer.pipe(socket, { end: false });
      answer.once("end", () => {
        complete = true;
        live.complete();
        remote?.destroy();
        // Whatever the client sent past its request is read and dropped, so its FIN is seen and the
        // close is clean; one that never closes is closed after the idle timeout.
        socket.resume();
        socket.end();
        setTimeout(() => socket.destroy(), this.limits.idleTimeoutMs).unref();
      });
      answer.on("error", () => socket.destroy());
      answer.once("aborted", () => socket.destroy());
    });
    upstreamRequest.on("error", (error) => {
      if (!answered) this.answerUpstreamFailure(live, error, socket);
      else socket.destroy();
    });
    upstreamRequest.end();
  }

  /** An upgrade request to the upstream on a TLS connection of its own (no agent: it may become a tunnel). */
  private upgradeRequest(
    mode: ProxyMode,
    req: IncomingMessage,
    url: string,
    connected: (remote: tls.TLSSocket) => void,
  ): http.ClientRequest {
    const { upstream } = this.options;
    return https.request({
      host: upstream.host,
      port: upstream.port,
      method: req.method,
      path: mode === "reverse" ? upstream.basePath + url : url,
      headers: requestHeadersForUpstream(
        req.rawHeaders,
        upstream.authority,
        true,
      ) as unknown as http.OutgoingHttpHeaders,
      setHost: false,
      createConnection: () => {
        const remote = tls.connect({
          ...upstreamTlsOptions(upstream, !req.headers.authorization),
          host: upstream.host,
          port: upstream.port,
        });
        this.track(remote);
        remote.setNoDelay(true);
        connected(remote);
        return remote;
      },
    });
  }

  /**
   * The proxy's own answer when the upstream gave none (down, refused, TLS failure): a Kubernetes `Status`,
   * 502 BadGateway, through the client's response or, for a protocol switch, as raw HTTP/1.1 on its socket.
   * The one place that answer is written.
   */
  private answerUpstreamFailure(live: LiveFlow, error: Error, client: ClientResponse | Duplex): void {
    this.countUpstreamError(error);
    live.upstreamFailed(error.message);
    const body = statusBody(
      502,
      "BadGateway",
      `apisnoop proxy: upstream ${this.options.upstream.server} failed: ${error.message}`,
    );
    const length = Buffer.byteLength(body);
    if (client instanceof ServerResponse || client instanceof http2.Http2ServerResponse) {
      client.writeHead(502, { "content-type": "application/json", "content-length": length });
      client.end(body);
    } else {
      client.end(
        `HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
  }

  /** A request as it arrives: refused when its target is no path or the proxy drains, else forwarded. */
  private onRequest(mode: ProxyMode, req: ClientRequest, res: ClientResponse): void {
    if (req instanceof http.IncomingMessage) this.firstRequestArrived(req.socket);
    const problem = requestTargetProblem(req.url);
    if (problem) {
      this.options.metrics.countRefused(problem.code === 403 ? "absolute-form" : "request target");
      refuse(res, problem.code, problem.message);
      return;
    }
    this.active.set(res, {
      // A watch (a stream that may last hours) is ended by a drain, so its client re-watches elsewhere.
      watch: requestTargetWatches(req.url ?? ""),
      startedAt: performance.now(),
      endStream: null,
      ending: false,
    });
    res.once("close", () => this.active.delete(res));
    // While draining, answers go out with `Connection: close` (HTTP/2: the session got a GOAWAY): the
    // client's next request picks another proxy.
    if (this.draining && res instanceof ServerResponse) res.shouldKeepAlive = false;
    this.forward(mode, req, res);
  }

  /** The connection's first request is in: from here Node's header and keep-alive timeouts apply. */
  private firstRequestArrived(socket: Duplex): void {
    const silent = this.untilFirstRequest.get(socket);
    if (!silent) return;
    this.untilFirstRequest.delete(socket);
    socket.off("timeout", silent);
    (socket as Socket).setTimeout(0);
  }

  /** A request the HTTP parser rejected (bad framing, oversized head, header timeout): answer it and close. */
  private onClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    const code =
      error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
    this.options.metrics.countRefused(
      code === 431 ? "header too large" : code === 408 ? "header timeout" : "malformed request",
    );
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const reason = code === 431 ? "RequestHeaderFieldsTooLarge" : code === 408 ? "Timeout" : "BadRequest";
    const body = statusBody(
      code,
      reason,
      `apisnoop proxy: ${reason === "BadRequest" ? "malformed request" : reason}`,
    );
    socket.end(
      `HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }

  /** Counts an upstream failure; logs at most one line every 10 s so an outage does not flood the log. */
  private countUpstreamError(error: Error): void {
    this.options.metrics.upstreamErrors++;
    this.logAtMostEvery10s(
      `upstream ${this.options.upstream.server} failed: ${error.message} (answering 502)`,
    );
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
  /** Requests still open at the deadline, closed then. */
  cut: number;
  ms: number;
}

/** Answers a request the proxy will not serve with a Kubernetes Status and closes the connection. */
function refuse(res: ClientResponse, code: number, message: string): void {
  const body = statusBody(code, reasonFor(code), message);
  if (res instanceof ServerResponse) res.shouldKeepAlive = false;
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** An upstream answer's status line and `rawHeaders` as HTTP/1.1 text, for a client's raw socket. */
function responseHeadText(answer: IncomingMessage, rawHeaders: string[]): string {
  let text = `HTTP/1.1 ${answer.statusCode ?? 502} ${answer.statusMessage ?? ""}\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2) text += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  return `${text}\r\n`;
}

/** The same on a raw socket (CONNECT and upgrade requests have no ServerResponse). */
function refuseOnSocket(socket: Duplex, code: number, message: string): void {
  const body = statusBody(code, reasonFor(code), message);
  socket.end(
    `HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function reasonFor(code: number): string {
  return code === 403 ? "Forbidden" : code === 503 ? "ServiceUnavailable" : "BadRequest";
}

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

/**
 * The request half of a new flow: method, url, the only header values apisnoop keeps (GUIDE §4), and the
 * body's stream when there is one.
 */
function flowRequest(
  mode: ProxyMode,
  req: ClientRequest,
  basePath: string,
  upgrade: boolean,
  hasBody: boolean,
): FlowRequest {
  const source = req.headers["x-apisnoop-source"];
  const run = req.headers["x-apisnoop-run"];
  return {
    method: req.method ?? "GET",
    url: flowUrl(mode, req.url ?? "/", basePath),
    userAgent: req.headers["user-agent"] ?? null,
    upgrade,
    sourceHeader: (Array.isArray(source) ? source[0] : source) ?? null,
    runHeader: (Array.isArray(run) ? run[0] : run) ?? null,
    remoteAddress: req.socket.remoteAddress ?? null,
    contentType: req.headers["content-type"] ?? null,
    bodyStream: hasBody ? req : null,
    body: null,
  };
}

/** The URL the matcher sees: API-root relative (forward-mode requests carry the server's path prefix). */
function flowUrl(mode: ProxyMode, url: string, basePath: string): string {
  if (mode === "forward" && basePath && url.startsWith(basePath)) return url.slice(basePath.length) || "/";
  return url;
}

/** The content type of a watch's stream of events (a 200 answer without a length, not an error Status), else null. */
function eventStreamType(
  status: number,
  rawHeaders: string[],
  contentType: string | undefined,
): string | null {
  return status === 200 && !hasHeader(rawHeaders, "content-length") ? (contentType ?? null) : null;
}

/** Writes a response head to an HTTP/1.1 or HTTP/2 client (HTTP/2 has no status message). */
function writeHead(
  res: ClientResponse,
  status: number,
  message: string | undefined,
  headers: string[],
): void {
  if (res instanceof ServerResponse) res.writeHead(status, message, headers);
  else res.writeHead(status, headers as unknown as http2.OutgoingHttpHeaders);
}

/**
 * A watch sends its headers long before its first event: flush them unless the body is right behind.
 * (`headersSent` is already true after writeHead: Node only buffers them, so track the body instead.)
 * HTTP/2 sends a response's HEADERS frame at writeHead.
 */
function flushHeadersUnlessBodyFollows(body: NodeJS.ReadableStream, res: ClientResponse): void {
  if (!(res instanceof ServerResponse)) return;
  let bodyStarted = false;
  body.once("data", () => {
    bodyStarted = true;
  });
  setImmediate(() => {
    if (!bodyStarted && !res.destroyed && !res.writableEnded) res.flushHeaders();
  });
}

/** An HTTP/2 client's headers without its pseudo-headers (`:method`, `:path`, …), for an HTTP/1.1 request. */
function withoutPseudoHeaders(rawHeaders: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.charCodeAt(0) !== 58 /* ":" */) out.push(name, rawHeaders[i + 1] as string);
  }
  return out;
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
