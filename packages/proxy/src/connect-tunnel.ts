/**
 * Forward mode's CONNECT: the policy's decision carried out. A CONNECT to the Kubernetes API is answered
 * and its TLS handed to the proxy's own TLS server (decrypted and recorded); one the operator allowed by
 * name becomes a plain byte tunnel; anything else, and everything once a drain's grace is over, is refused
 * before any socket is opened.
 */
import type { IncomingMessage } from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";
import { refuseOnSocket } from "./client-answers";
import type { ConnectPolicy } from "./connect-policy";
import type { ConnectionLimits } from "./limits";
import type { ProxyMetrics } from "./metrics";

/** What a CONNECT needs of the proxy around it. */
export interface ConnectContext {
  connectPolicy: ConnectPolicy;
  metrics: ProxyMetrics;
  limits: ConnectionLimits;
  /**
   * True once the drain's grace is over: no new tunnel. During the grace a CONNECT on a connection
   * accepted before the drain is served like a request on one.
   */
  draining(): boolean;
  /** Takes the tunnel's TLS to the proxy's forward-mode TLS server, in its handshake turn. */
  intercept(socket: Duplex): void;
  /** Closes `socket` with the proxy. */
  track(socket: Duplex): void;
}

/**
 * Forward mode: decrypt a CONNECT to the Kubernetes API, pass one the operator allowed through as bytes,
 * refuse everything else before any socket is opened (ConnectPolicy).
 */
export function answerConnect(
  context: ConnectContext,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  const { metrics, connectPolicy } = context;
  const decision = connectPolicy.decide(req.url ?? "");
  metrics.countConnect(decision.action);
  if (decision.action === "refuse" || context.draining()) {
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
    context.intercept(socket);
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
  remote.setTimeout(context.limits.tunnelIdleTimeoutMs, () => {
    metrics.countTimeout("tunnel idle");
    remote.destroy();
  });
  context.track(remote);
  remote.on("error", () => {
    if (socket.writable)
      socket.end("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    socket.destroy();
  });
  socket.on("error", () => remote.destroy());
  socket.on("close", () => remote.destroy());
  remote.on("close", () => socket.destroy());
}
