import http, { type IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import net, { type AddressInfo, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import tls, { type SecureContext } from "node:tls";
import type { CertificateAuthority, LeafCertificate } from "./certificate-authority";
import type { FlowRequest, ProxyMode } from "./flow";
import type { FlowLifecycle, LiveFlow } from "./flow-lifecycle";
import { hasHeader, requestHeadersForUpstream, responseHeadersForClient } from "./http-headers";
import type { ProxyMetrics } from "./metrics";
import { statusBody } from "./status";
import { type Upstream, upstreamAgent, upstreamTlsOptions } from "./upstream";

export interface ProxyServerOptions {
  upstream: Upstream;
  ca: CertificateAuthority;
  /** The leaf presented by default: it covers every expected host (see `expectedHosts`). */
  defaultLeaf: LeafCertificate;
  /** Runs each flow's addon hooks; the transport only reports what happened on the wire. */
  flows: FlowLifecycle;
  metrics: ProxyMetrics;
  /** Hosts a CONNECT is intercepted for (besides the upstream's own host:port); others are tunnelled. */
  interceptHosts: ReadonlySet<string>;
  /** One-line operational messages (never headers or bodies). */
  log?: (line: string) => void;
}

/** How long an idle client keep-alive connection is kept: longer than Go's 90 s idle timeout. */
const CLIENT_KEEP_ALIVE_MS = 120_000;

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
  private readonly sniContexts = new Map<string, Promise<SecureContext>>();
  private lastUpstreamErrorLog = 0;

  constructor(private readonly options: ProxyServerOptions) {
    const { upstream, defaultLeaf } = options;
    this.agent = upstreamAgent(upstream, false);
    this.certAgent = upstream.clientCertificate ? upstreamAgent(upstream, true) : this.agent;

    const tlsOptions: https.ServerOptions = {
      key: defaultLeaf.key,
      cert: defaultLeaf.cert,
      SNICallback: (name, cb) => this.contextFor(name, cb),
      keepAliveTimeout: CLIENT_KEEP_ALIVE_MS,
      // Watches and big uploads legitimately take long; clients and the apiserver set their own timeouts.
      requestTimeout: 0,
      headersTimeout: 60_000,
      noDelay: true,
    };
    this.reverseTls = https.createServer(tlsOptions);
    this.forwardTls = https.createServer(tlsOptions);
    for (const [server, mode] of [
      [this.reverseTls, "reverse"],
      [this.forwardTls, "forward"],
    ] as const) {
      server.on("request", (req: IncomingMessage, res: ServerResponse) => this.forward(mode, req, res));
      server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
        this.tunnelUpgrade(mode, req, socket, head),
      );
      server.on("tlsClientError", () => {}); // a client that does not trust our CA: its own error to report
    }
    this.connectServer = http.createServer((_req, res) => {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(
        statusBody(400, "BadRequest", "apisnoop proxy: speak TLS (reverse mode) or CONNECT (forward mode)"),
      );
    });
    this.connectServer.on("connect", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onConnect(req, socket, head),
    );

    this.listener = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) =>
      this.onConnection(socket),
    );
  }

  /** Starts listening; resolves to the bound address (port 0 picks a free port). */
  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.listener.once("error", reject);
      this.listener.listen({ host, port }, () => {
        this.listener.off("error", reject);
        resolve(this.listener.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting, ends open connections (watches, tunnels) and the upstream pools. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.listener.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
      this.reverseTls.closeAllConnections();
      this.forwardTls.closeAllConnections();
      this.connectServer.closeAllConnections();
      this.agent.destroy();
      this.certAgent.destroy();
    });
  }

  /** Tells TLS (reverse) from a CONNECT (forward) by the first byte, then hands the socket on. */
  private onConnection(socket: Socket): void {
    this.track(socket);
    socket.on("error", () => socket.destroy());
    socket.once("data", (first: Buffer) => {
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

  /** Forward mode: answer the CONNECT, then terminate TLS for the cluster's hosts or tunnel anything else. */
  private onConnect(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const target = req.url ?? "";
    const colon = target.lastIndexOf(":");
    const host = (colon === -1 ? target : target.slice(0, colon)).replace(/^\[(.*)\]$/, "$1");
    const port = colon === -1 ? 443 : Number(target.slice(colon + 1));
    const { upstream, interceptHosts } = this.options;
    if ((host === upstream.host && port === upstream.port) || interceptHosts.has(host)) {
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) socket.unshift(head);
      this.forwardTls.emit("connection", socket);
      return;
    }
    // Not the cluster: a plain byte tunnel, neither decrypted nor recorded.
    const remote = net.connect({ host, port }, () => {
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) remote.write(head);
      socket.pipe(remote);
      remote.pipe(socket);
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
      // The hit is counted (`complete`) before the client's response ends, so a proxy killed at any moment
      // has counted every response a client received in full.
      answer.pipe(res, { end: false });
      answer.once("end", () => {
        live.complete();
        res.end();
      });
      answer.on("error", () => res.destroy());
    });
    upstreamRequest.on("error", (error) => {
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

  /** Counts an upstream failure; logs at most one line every 10 s so an outage does not flood the log. */
  private countUpstreamError(error: Error): void {
    this.options.metrics.upstreamErrors++;
    const now = Date.now();
    if (now - this.lastUpstreamErrorLog < 10_000) return;
    this.lastUpstreamErrorLog = now;
    this.options.log?.(`upstream ${this.options.upstream.server} failed: ${error.message} (answering 502)`);
  }

  /** The TLS context for an SNI name: the default leaf when it covers the name, else one issued for it. */
  private contextFor(name: string, cb: (error: Error | null, context?: SecureContext) => void): void {
    if (this.options.defaultLeaf.hosts.includes(name)) {
      cb(null);
      return;
    }
    let context = this.sniContexts.get(name);
    if (!context) {
      context = this.options.ca
        .leafFor([name])
        .then((leaf) => tls.createSecureContext({ key: leaf.key, cert: leaf.cert }));
      this.sniContexts.set(name, context);
    }
    context.then(
      (c) => cb(null, c),
      (error: Error) => cb(error),
    );
  }

  private track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }
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
