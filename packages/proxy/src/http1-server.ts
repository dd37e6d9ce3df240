/**
 * The client side of HTTP/1.1: Node's server options from the connection limits, and the bound on a TLS
 * connection that sends no request, which Node's own timeouts leave open.
 */
import type http from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ConnectionLimits } from "./limits";
import type { ProxyMetrics } from "./metrics";

/** Node's HTTP/1.1 server options from the connection limits. */
export function http1ServerOptions(limits: ConnectionLimits): http.ServerOptions {
  return {
    keepAliveTimeout: limits.idleTimeoutMs,
    // Watches and big uploads legitimately take long; clients and the apiserver set their own timeouts.
    requestTimeout: 0,
    headersTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: Math.min(5_000, limits.headersTimeoutMs),
    maxHeaderSize: limits.maxHeaderBytes,
    noDelay: true,
  };
}

/**
 * Bounds the time a TLS connection may stay open before its first request by the headers timeout. Node's
 * own headers timeout covers it too, but only at its periodic connection check, and then answers it 408
 * and merely ends it: a client that never reads holds it half-open. Here it is closed, whichever fires.
 */
export class FirstRequestBound {
  /** TLS connections that have not sent a request yet, with their timeout handler. */
  private readonly waiting = new WeakMap<Duplex, () => void>();

  constructor(
    private readonly timeoutMs: number,
    private readonly metrics: ProxyMetrics,
  ) {}

  /** Starts the wait of a new connection for its first request. */
  start(socket: Socket): void {
    const silent = () => {
      this.metrics.countTimeout("first request");
      socket.destroy();
    };
    this.waiting.set(socket, silent);
    socket.setTimeout(this.timeoutMs);
    socket.once("timeout", silent);
  }

  /**
   * Node's headers timeout fired on `socket`: if it is still waiting for its first request, it is closed
   * and counted here, as when this bound fires first (the two race); true then, else Node's answer applies.
   */
  expired(socket: Duplex): boolean {
    const silent = this.waiting.get(socket);
    if (!silent) return false;
    this.arrived(socket);
    silent();
    return true;
  }

  /** The connection's first request is in: from here Node's header and keep-alive timeouts apply. */
  arrived(socket: Duplex): void {
    const silent = this.waiting.get(socket);
    if (!silent) return;
    this.waiting.delete(socket);
    socket.off("timeout", silent);
    (socket as Socket).setTimeout(0);
  }
}
