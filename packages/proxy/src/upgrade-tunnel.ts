/**
 * Protocol switches (exec/attach/portforward over SPDY or WebSocket, HTTP/1.1 only): the request goes
 * upstream on a TLS connection of its own, and only a `101` answer makes the client's connection a tunnel
 * of raw bytes both ways.
 */
import type http from "node:http";
import type { IncomingMessage } from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import tls from "node:tls";
import { refuseOnSocket, responseHeadText } from "./client-answers";
import type { ProxyMode } from "./flow";
import type { FlowLifecycle } from "./flow-lifecycle";
import { flowRequest } from "./flow-request";
import { requestHeadersForUpstream, responseHeadersForClient } from "./http-headers";
import type { ConnectionLimits } from "./limits";
import type { ProxyMetrics } from "./metrics";
import { type Upstream, upstreamTlsOptions } from "./upstream";
import type { UpstreamRelay } from "./upstream-relay";

/** What a protocol switch needs of the proxy around it. */
export interface UpgradeContext {
  upstream: Upstream;
  flows: FlowLifecycle;
  metrics: ProxyMetrics;
  limits: ConnectionLimits;
  /** Answers the 502 when the upstream gives no answer. */
  relay: UpstreamRelay;
  /** Closes `socket` with the proxy. */
  track(socket: Duplex): void;
}

/**
 * A protocol switch (exec/attach/portforward: SPDY or WebSocket). The request goes upstream on a TLS
 * connection of its own and the answer is read as HTTP: only a `101` makes the connection a tunnel of raw
 * bytes both ways. Any other answer (403, 400, a 200 to a path that upgrades nothing) is an ordinary
 * response: recorded like one, sent with `Connection: close`, and the connection ends after it — were
 * it tunnelled, the client's next requests on it would reach the apiserver unseen and unbounded.
 */
export function tunnelUpgrade(
  context: UpgradeContext,
  mode: ProxyMode,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  const { upstream } = context;
  const url = req.url ?? "/";
  // Kubernetes' upgrades carry no body; one declared here could not be relayed if no switch follows.
  const length = req.headers["content-length"];
  if (req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0")) {
    context.metrics.countRefused("upgrade with a body");
    refuseOnSocket(socket, 400, "apisnoop proxy: a protocol switch request carries no body");
    return;
  }
  let remote: tls.TLSSocket | undefined;
  let upstreamRequest: http.ClientRequest;
  try {
    upstreamRequest = upgradeRequest(context, mode, req, url, (connection) => {
      remote = connection;
    });
  } catch {
    remote?.destroy();
    // Node's client refuses a header its server took (never seen, but a throw here would be uncaught).
    context.metrics.countRefused("upgrade headers");
    refuseOnSocket(socket, 400, "apisnoop proxy: a header of this request cannot be forwarded");
    return;
  }
  const live = context.flows.begin(mode, flowRequest(mode, req, upstream.basePath, true, false));
  context.track(socket);
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
      setTimeout(() => socket.destroy(), context.limits.idleTimeoutMs).unref();
    });
    answer.on("error", () => socket.destroy());
    answer.once("aborted", () => socket.destroy());
  });
  upstreamRequest.on("error", (error) => {
    if (!answered) context.relay.answerUpstreamFailure(live, error, socket);
    else socket.destroy();
  });
  upstreamRequest.end();
}

/** An upgrade request to the upstream on a TLS connection of its own (no agent: it may become a tunnel). */
function upgradeRequest(
  context: UpgradeContext,
  mode: ProxyMode,
  req: IncomingMessage,
  url: string,
  connected: (remote: tls.TLSSocket) => void,
): http.ClientRequest {
  const { upstream } = context;
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
      context.track(remote);
      remote.setNoDelay(true);
      connected(remote);
      return remote;
    },
  });
}
