import {
  INGEST_NAMESPACE,
  type IngestAck,
  type IngestBatch,
  PROTOCOL_VERSION,
  RollupBuilder,
  type Source,
  sourceFromUserAgent,
} from "@apisnoop/protocol";
import type { HitSink, Hit as ProxyHit } from "@apisnoop/proxy";
import { io, type Socket } from "socket.io-client";

export interface ProxyUplinkOptions {
  /** The dashboard's URL (`http://127.0.0.1:3000`). */
  webUrl: string;
  token: string;
  proxyId: string;
  /** The release the proxy matches against ("1.34"), when known. */
  release: string | null;
  /** How often pending rollups are shipped (ms). */
  flushMs?: number;
  log: (line: string) => void;
}

/**
 * The local stack's link from the proxy to the dashboard: a HitSink for the proxy's record addon that
 * folds hits into rollups (RollupBuilder) and ships one batch per interval on the ingest namespace,
 * keeping a batch until its ack says it is committed (or can never be). In memory only: `npm start`
 * runs both ends in one process; a proxy deployed on its own uses apps/proxy's durable uplink.
 */
export class ProxyUplink implements HitSink {
  private readonly builder: RollupBuilder;
  private readonly socket: Socket;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly sources = new Map<string, Source>();
  private unacked: IngestBatch[] = [];
  private sending = false;

  constructor(private readonly options: ProxyUplinkOptions) {
    this.builder = new RollupBuilder(options.proxyId, options.release);
    this.socket = io(`${options.webUrl}${INGEST_NAMESPACE}`, {
      auth: { token: options.token, proxyId: options.proxyId, protocol: PROTOCOL_VERSION },
      transports: ["websocket"],
    });
    this.socket.on("connect_error", (error) => options.log(`uplink: ${error.message}`));
    this.timer = setInterval(() => void this.flush(), options.flushMs ?? 250);
  }

  write(hit: ProxyHit): void {
    const userAgent = hit.userAgent ?? "";
    let source = this.sources.get(userAgent);
    if (!source) {
      source = sourceFromUserAgent(userAgent);
      this.sources.set(userAgent, source);
    }
    const details = /(^|&)watch=(true|1)(&|$)/.test(hit.query) ? ["watch"] : [];
    this.builder.add({
      at: Date.parse(hit.ts) + hit.durationMs,
      method: hit.method,
      operationId: hit.operationId,
      ...(hit.reason ? { reason: hit.reason } : {}),
      path: hit.path,
      status: hit.status === 0 ? null : hit.status,
      source,
      details,
    });
  }

  /** Ships what is pending; batches not acknowledged yet are resent first, in order. */
  async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      const batch = this.builder.drain();
      if (batch) this.unacked.push(batch);
      while (this.unacked.length > 0 && this.socket.connected) {
        const next = this.unacked[0] as IngestBatch;
        let ack: IngestAck;
        try {
          ack = (await this.socket.timeout(30_000).emitWithAck("batch", next)) as IngestAck;
        } catch {
          return; // no answer: keep it and try again on the next tick
        }
        if (!ack.ok && ack.retry) return;
        if (!ack.ok) this.options.log(`uplink: batch dropped: ${ack.error}`);
        this.unacked.shift();
      }
    } finally {
      this.sending = false;
    }
  }

  /** Ships what is left (waiting up to `graceMs` for acks) and disconnects. */
  async close(graceMs = 3000): Promise<void> {
    clearInterval(this.timer);
    const deadline = Date.now() + graceMs;
    do {
      await this.flush();
      if (this.unacked.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } while (Date.now() < deadline);
    this.socket.disconnect();
  }
}
