import { UNMATCHED_REASONS } from "@apisnoop/openapi";
import {
  type IngestBatch,
  LIVE_MAX_DELTAS_PER_SECOND,
  type LiveDelta,
  type Source,
  sourceKey,
} from "@apisnoop/protocol";
import { sourceLabel } from "../sources/source-label";

/**
 * What one page shows, reduced to the questions a live hit must answer to count there. Built from the
 * page's filters by the caller, so the hub knows nothing about URLs or the database.
 */
export interface LiveScope {
  /** Hits of a batch stored under this release (null: the batch names none) belong to the page. */
  acceptsRelease(release: string | null): boolean;
  /** The endpoint is one the page counts (in its release, at its level). */
  acceptsEndpoint(operationId: string): boolean;
  /** The source is one the page's source filters select. */
  acceptsSource(source: Source): boolean;
  /** Only 2xx responses count. */
  successOnly: boolean;
}

interface Subscriber {
  scope: LiveScope;
  send: (delta: LiveDelta) => void;
  seq: number;
  lastSentAt: number;
  timer: ReturnType<typeof setTimeout> | null;
  pending: Pending | null;
}

interface Pending {
  firstReceivedAt: number;
  endpoints: Map<string, number>;
  hits: number;
  unknownCalls: number;
  sources: Map<string, string>;
}

export interface LiveHubOptions {
  /** Minimum time between two deltas to one subscriber (default 1000 / LIVE_MAX_DELTAS_PER_SECOND). */
  intervalMs?: number;
  now?: () => number;
}

/**
 * Fans committed batches out to live subscribers. Each subscriber gets only the hits its scope accepts,
 * coalesced: the first hit after a quiet period goes out at once, later ones wait for the interval, so a
 * browser never receives more than LIVE_MAX_DELTAS_PER_SECOND deltas per second however busy ingest is.
 */
export class LiveHub {
  private readonly subscribers = new Map<string, Subscriber>();
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(options: LiveHubOptions = {}) {
    this.intervalMs = options.intervalMs ?? 1000 / LIVE_MAX_DELTAS_PER_SECOND;
    this.now = options.now ?? Date.now;
  }

  /** Starts (or replaces) the subscription `id`; earlier pending hits of that id are dropped. */
  subscribe(id: string, scope: LiveScope, send: (delta: LiveDelta) => void): void {
    this.unsubscribe(id);
    this.subscribers.set(id, { scope, send, seq: 0, lastSentAt: 0, timer: null, pending: null });
  }

  unsubscribe(id: string): void {
    const subscriber = this.subscribers.get(id);
    if (subscriber?.timer) clearTimeout(subscriber.timer);
    this.subscribers.delete(id);
  }

  /** Number of live subscriptions (for status output). */
  get size(): number {
    return this.subscribers.size;
  }

  /** Offers a batch that was just committed; `receivedAt` is when ingest received it (epoch ms). */
  publish(batch: IngestBatch, receivedAt: number = this.now()): void {
    for (const subscriber of this.subscribers.values()) this.collect(subscriber, batch, receivedAt);
  }

  /** Stops every timer; pending hits are dropped (the pages reload their data on reconnect). */
  close(): void {
    for (const id of [...this.subscribers.keys()]) this.unsubscribe(id);
  }

  private collect(subscriber: Subscriber, batch: IngestBatch, receivedAt: number): void {
    const { scope } = subscriber;
    if (!scope.acceptsRelease(batch.release)) return;
    const accepted = batch.sources.map((source) => scope.acceptsSource(source));
    let pending = subscriber.pending;
    const take = (): Pending => {
      pending ??= {
        firstReceivedAt: receivedAt,
        endpoints: new Map(),
        hits: 0,
        unknownCalls: 0,
        sources: new Map(),
      };
      return pending;
    };
    const noteSource = (into: Pending, index: number) => {
      const source = batch.sources[index];
      if (!source) return;
      const key = sourceKey(source);
      if (!into.sources.has(key)) into.sources.set(key, sourceLabel(source));
    };
    for (const hit of batch.hits) {
      if (!accepted[hit.source]) continue;
      if (scope.successOnly && hit.statusClass !== "2xx") continue;
      if (!scope.acceptsEndpoint(hit.operationId)) continue;
      const into = take();
      into.endpoints.set(hit.operationId, (into.endpoints.get(hit.operationId) ?? 0) + hit.count);
      into.hits += hit.count;
      noteSource(into, hit.source);
    }
    for (const call of batch.unknownCalls) {
      if (!accepted[call.source]) continue;
      if (scope.successOnly && call.statusClass !== "2xx") continue;
      const into = take();
      // The apiserver's own paths (`/openapi/v3`, `/healthz`) are no unknown calls: no count, as in db.
      if (call.reason !== UNMATCHED_REASONS.outsideSpec) into.unknownCalls += call.count;
      noteSource(into, call.source);
    }
    subscriber.pending = pending;
    if (pending && !subscriber.timer) {
      const wait = Math.max(0, subscriber.lastSentAt + this.intervalMs - this.now());
      subscriber.timer = setTimeout(() => this.flush(subscriber), wait);
    }
  }

  private flush(subscriber: Subscriber): void {
    subscriber.timer = null;
    const pending = subscriber.pending;
    if (!pending) return;
    subscriber.pending = null;
    subscriber.lastSentAt = this.now();
    subscriber.seq += 1;
    subscriber.send({
      seq: subscriber.seq,
      firstReceivedAt: pending.firstReceivedAt,
      endpoints: Object.fromEntries(pending.endpoints),
      hits: pending.hits,
      unknownCalls: pending.unknownCalls,
      sources: [...pending.sources].map(([key, label]) => ({ key, label })),
    });
  }
}
