import http, { type IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import net, { type AddressInfo, type Socket } from "node:net";
import type { Duplex, Readable } from "node:stream";
import tls, { type SecureContext } from "node:tls";
import { asksToWatch } from "@apisnoop/openapi";
import type { LeafCertificate } from "./certificate-authority";
import { type ConnectPolicy, requestTargetProblem } from "./connect-policy";
import type { FlowRequest, ProxyMode } from "./flow";
import type { FlowLifecycle, LiveFlow } from "./flow-lifecycle";
import { hasHeader, requestHeadersForUpstream, responseHeadersForClient } from "./http-headers";
import { type ConnectionLimits, DEFAULT_LIMITS } from "./limits";
import type { ProxyMetrics } from "./metrics";
import { statusBody } from "./status";
import { type Upstream, upstreamAgent, upstreamTlsOptions } from "./upstream";
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
  /** One-line operational messages (never headers or bodies). */
  log?: (line: string) => void;
}

/**
 * The man in the middle. One TCP port serves both ways in, told apart by the first byte:
 * - reverse: a TLS ClientHello (0x16), the client's `server` is this proxy;
 * - forward: a plain `CONNECT host:port`, then TLS inside the tunnel with a leaf for that host.
 * Requests are forwarded with Node's http machinery and streamed both ways with back-pressure; upgrades
 * (exec/attach/portforward over SPDY or WebSocket) are tunnelled as raw bytes after the request head.
 * What happens to each request is reported to the flow lifecycle (`flows`), which runs the addons.
 */
export class ProxyServer {
  private readonly listener: net.Server;
  private readonly reverseTls: https.Server;
  private readonly forwardTls: https.Server;
  private readonly connectServer: http.Server;
  /** For clients that bring their own credential (a bearer token): never present ours. */
  private readonly agent: https.Agent;
  /** For clients without one, when the proxy's kubeconfig has a client certificate: present it. */
  private readonly certAgent: https.Agent;
  private readonly sockets = new Set<Duplex>();
  /** Requests in flight (responses not yet finished). */
  private readonly active = new Map<ServerResponse, InFlight>();
  private readonly limits: ConnectionLimits;
  /** TLS connections that have not sent a request yet, with their timeout handler. */
  private readonly untilFirstRequest = new WeakMap<Duplex, () => void>();
  private draining = false;
  private lastUpstreamErrorLog = 0;

  constructor(private readonly options: ProxyServerOptions) {
    const { upstream, defaultLeaf, metrics } = options;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.agent = upstreamAgent(upstream, false);
    this.certAgent = upstream.clientCertificate ? upstreamAgent(upstream, true) : this.agent;

    const httpOptions: http.ServerOptions = {
      keepAliveTimeout: this.limits.idleTimeoutMs,
      // Watches and big uploads legitimately take long; clients and the apiserver set their own timeouts.
      requestTimeout: 0,
      headersTimeout: this.limits.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(5_000, this.limits.headersTimeoutMs),
      maxHeaderSize: this.limits.maxHeaderBytes,
      noDelay: true,
    };
    const tlsOptions: https.ServerOptions = {
      ...httpOptions,
      key: defaultLeaf.key,
      cert: defaultLeaf.cert,
      SNICallback: (name, cb) => this.contextFor(name, cb),
      handshakeTimeout: this.limits.handshakeTimeoutMs,
    };
    this.reverseTls = https.createServer(tlsOptions);
    this.forwardTls = https.createServer(tlsOptions);
    for (const [server, mode] of [
      [this.reverseTls, "reverse"],
      [this.forwardTls, "forward"],
    ] as const) {
      server.on("request", (req: IncomingMessage, res: ServerResponse) => this.onRequest(mode, req, res));
      server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        this.firstRequestArrived(socket);
        const problem = requestTargetProblem(req.url);
        if (problem) {
          metrics.countRefused(problem.code === 403 ? "absolute-form" : "request target");
          refuseOnSocket(socket, problem.code, problem.message);
          return;
        }
        this.tunnelUpgrade(mode, req, socket, head);
      });
      // A client that does not trust our CA, or garbage where a handshake should be: its own error to report.
      server.on("tlsClientError", (error: NodeJS.ErrnoException) =>
        metrics.countTlsError(tlsErrorKind(error)),
      );
      server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) =>
        this.onClientError(error, socket),
      );
      // Node times out neither a TLS connection that never sends a request (headersTimeout starts with the
      // first byte of one) nor one idle before its first request: bound that here.
      server.on("secureConnection", (socket: tls.TLSSocket) => {
        const silent = () => {
          metrics.countTimeout("first request");
          socket.destroy();
        };
        this.untilFirstRequest.set(socket, silent);
        socket.setTimeout(this.limits.headersTimeoutMs);
        socket.once("timeout", silent);
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
    for (const server of [this.reverseTls, this.forwardTls, this.connectServer]) server.emit("listening");
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
      for (const server of [this.reverseTls, this.forwardTls, this.connectServer]) {
        server.closeAllConnections();
        server.close(() => {}); // stops its connection checks; it never listened, so the callback errs
      }
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
    for (const server of [this.reverseTls, this.forwardTls, this.connectServer])
      server.closeIdleConnections();
    const inFlight = this.active.size;
    for (const res of this.active.keys()) res.shouldKeepAlive = false;
    /** Watches asked to end between events: those in flight, and those begun during the drain. */
    const ending: ServerResponse[] = [];
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
    for (const server of [this.reverseTls, this.forwardTls, this.connectServer])
      server.closeIdleConnections();
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
    socket.setTimeout(this.limits.firstByteTimeoutMs, () => {
      metrics.countTimeout("first byte");
      socket.destroy();
    });
    socket.once("data", (first: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(first);
      if (first[0] === 0x16) {
        // The TLS socket takes the buffered ClientHello from the paused socket itself.
        this.reverseTls.emit("connection", socket);
      } else {
        this.connectServer.emit("connection", socket);
        socket.resume();
      }
    });
    socket.resume();
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
      this.forwardTls.emit("connection", socket);
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

  /** Forwards one request and streams the answer back; the hot path. */
  private forward(mode: ProxyMode, req: IncomingMessage, res: ServerResponse): void {
    const { upstream } = this.options;
    const url = req.url ?? "/";
    const hasBody =
      req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
    const live = this.options.flows.begin(mode, flowRequest(mode, req, upstream.basePath, false, hasBody));

    const upstreamRequest = https.request({
      agent: req.headers.authorization ? this.agent : this.certAgent,
      host: upstream.host,
      port: upstream.port,
      method: req.method,
      path: mode === "reverse" ? upstream.basePath + url : url,
      headers: requestHeadersForUpstream(
        req.rawHeaders,
        upstream.authority,
      ) as unknown as http.OutgoingHttpHeaders,
      setHost: false,
    });
    upstreamRequest.on("response", (answer) => {
      live.responseHead(answer.statusCode ?? 502, answer.headers["content-type"] ?? null, answer);
      res.writeHead(
        answer.statusCode ?? 502,
        answer.statusMessage,
        responseHeadersForClient(answer.rawHeaders),
      );
      // A watch sends its headers long before its first event: flush them unless the body is right behind.
      // (`headersSent` is already true after writeHead: Node only buffers them, so track the body instead.)
      if (!hasHeader(answer.rawHeaders, "content-length")) {
        let bodyStarted = false;
        answer.once("data", () => {
          bodyStarted = true;
        });
        setImmediate(() => {
          if (!bodyStarted && !res.destroyed && !res.writableEnded) res.flushHeaders();
        });
      }
      // A watch's event stream (not an error Status with its length): followed so a drain can end it.
      const events =
        answer.statusCode === 200 && !hasHeader(answer.rawHeaders, "content-length")
          ? (answer.headers["content-type"] ?? null)
          : null;
      this.relay(live, answer, res, () => upstreamRequest.destroy(), events);
    });
    upstreamRequest.on("error", (error) => {
      if (res.writableEnded) return; // the client has its whole answer (a drain ended a watch)
      if (res.headersSent || res.destroyed) {
        live.aborted(error.message);
        res.destroy();
        return;
      }
      this.answerUpstreamFailure(live, error, res);
    });
    if (!hasBody) {
      // No body (GET, most DELETEs): send at once rather than one tick later on the request's 'end'.
      upstreamRequest.end();
      req.resume();
    } else {
      req.pipe(upstreamRequest);
    }
    req.on("error", () => upstreamRequest.destroy());
    res.on("close", () => {
      if (!res.writableFinished) {
        // The client went away (watch closed, request cancelled): stop the upstream side too.
        live.aborted("client closed the connection");
        upstreamRequest.destroy();
      }
      live.end();
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
    res: ServerResponse,
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
        // opens a new one, to another proxy, instead of reusing this one.
        res.socket?.end();
        cancelUpstream();
      };
      const untilEventEnds = (chunk: Buffer) => {
        const eventEnd = framing.eventEndIn(chunk);
        if (eventEnd !== -1) {
          res.write(chunk.subarray(0, eventEnd));
          finish();
          return;
        }
        framing.feed(chunk);
        if (!res.write(chunk)) {
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

  /** Tunnels a protocol switch (exec/attach/portforward: SPDY or WebSocket) as raw bytes both ways. */
  private tunnelUpgrade(mode: ProxyMode, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { upstream } = this.options;
    const url = req.url ?? "/";
    const live = this.options.flows.begin(mode, flowRequest(mode, req, upstream.basePath, true, false));
    this.track(socket);

    const remote = tls.connect({
      ...upstreamTlsOptions(upstream, !req.headers.authorization),
      host: upstream.host,
      port: upstream.port,
    });
    this.track(remote);
    remote.setNoDelay(true);
    const headers = requestHeadersForUpstream(req.rawHeaders, upstream.authority, true);
    let requestHead = `${req.method} ${mode === "reverse" ? upstream.basePath + url : url} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) requestHead += `${headers[i]}: ${headers[i + 1]}\r\n`;
    remote.write(`${requestHead}\r\n`);
    if (head.length > 0) remote.write(head);

    let answered = false;
    remote.once("data", (chunk: Buffer) => {
      answered = true;
      // "HTTP/1.1 101 Switching Protocols": the status is bytes 9-12 of the first line.
      const status = Number(chunk.subarray(9, 12).toString("latin1"));
      live.responseHead(Number.isFinite(status) ? status : 0, null, null);
    });
    remote.pipe(socket);
    socket.pipe(remote);
    remote.on("error", (error) => {
      if (!answered) this.answerUpstreamFailure(live, error, socket);
      else socket.destroy();
    });
    socket.on("error", () => remote.destroy());
    let closed = 0;
    const onClose = () => {
      remote.destroy();
      socket.destroy();
      if (++closed === 2) live.end();
    };
    remote.once("close", onClose);
    socket.once("close", onClose);
  }

  /**
   * The proxy's own answer when the upstream gave none (down, refused, TLS failure): a Kubernetes `Status`,
   * 502 BadGateway, through the client's response or, for a protocol switch, as raw HTTP/1.1 on its socket.
   * The one place that answer is written.
   */
  private answerUpstreamFailure(live: LiveFlow, error: Error, client: ServerResponse | Duplex): void {
    this.countUpstreamError(error);
    live.upstreamFailed(error.message);
    const body = statusBody(
      502,
      "BadGateway",
      `apisnoop proxy: upstream ${this.options.upstream.server} failed: ${error.message}`,
    );
    const length = Buffer.byteLength(body);
    if (client instanceof ServerResponse) {
      client.writeHead(502, { "content-type": "application/json", "content-length": length });
      client.end(body);
    } else {
      client.end(
        `HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
  }

  /** A request as it arrives: refused when its target is no path or the proxy drains, else forwarded. */
  private onRequest(mode: ProxyMode, req: IncomingMessage, res: ServerResponse): void {
    this.firstRequestArrived(req.socket);
    const problem = requestTargetProblem(req.url);
    if (problem) {
      this.options.metrics.countRefused(problem.code === 403 ? "absolute-form" : "request target");
      refuse(res, problem.code, problem.message);
      return;
    }
    this.active.set(res, {
      watch: isWatch(req.url ?? ""),
      startedAt: performance.now(),
      endStream: null,
      ending: false,
    });
    res.once("close", () => this.active.delete(res));
    // While draining, answers go out with `Connection: close`: the client's next request picks another proxy.
    if (this.draining) res.shouldKeepAlive = false;
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
function refuse(res: ServerResponse, code: number, message: string): void {
  const body = statusBody(code, reasonFor(code), message);
  res.shouldKeepAlive = false;
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
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

/** A coarse, bounded label for a failed TLS handshake. */
function tlsErrorKind(error: NodeJS.ErrnoException): string {
  if (error.code === "ERR_TLS_HANDSHAKE_TIMEOUT") return "timeout";
  if (error.code === "ECONNRESET") return "reset";
  return /alert/i.test(error.message) ? "client alert" : "malformed";
}

/** A watch (a stream that may last hours): ended when the proxy drains, so its client re-watches elsewhere. */
function isWatch(url: string): boolean {
  const q = url.indexOf("?");
  return (q !== -1 && asksToWatch(url.slice(q + 1))) || url.includes("/watch/");
}

/**
 * The request half of a new flow: method, url, the only header values apisnoop keeps (GUIDE §4), and the
 * body's stream when there is one.
 */
function flowRequest(
  mode: ProxyMode,
  req: IncomingMessage,
  basePath: string,
  upgrade: boolean,
  hasBody: boolean,
): FlowRequest {
  const source = req.headers["x-apisnoop-source"];
  return {
    method: req.method ?? "GET",
    url: flowUrl(mode, req.url ?? "/", basePath),
    userAgent: req.headers["user-agent"] ?? null,
    upgrade,
    sourceHeader: (Array.isArray(source) ? source[0] : source) ?? null,
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
