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
  /** Hits stored under this Kubernetes release (as `recordBatch` resolved it) belong to the page. */
  acceptsRelease(release: string): boolean;
  /** The endpoint is one the page counts (in its release, at its level). */
  acceptsEndpoint(operationId: string): boolean;
  /** The source is one the page's source filters select. */
  acceptsSource(source: Source): boolean;
  /** Only 2xx responses count. */
  successOnly: boolean;
}

/**
 * What live subscribers need of a committed batch: its release and, per source, hits by endpoint and
 * outcome, with minutes, methods, details and fields folded away. Small enough to pass between web
 * replicas (replicas.ts), and the one form the hub takes, whichever replica stored the batch.
 */
export interface CommittedHits {
  /** The Kubernetes release the batch was stored under, as `recordBatch` resolved it. */
  release: string;
  /** When the storing replica received the batch (epoch ms). */
  receivedAt: number;
  /** The sources the rows below name, by index. */
  sources: Source[];
  /** [source index, operationId, 2xx response, hits] */
  hits: Array<[number, string, boolean, number]>;
  /** [source index, 2xx response, calls] (calls to the apiserver's own paths fold to 0) */
  unknownCalls: Array<[number, boolean, number]>;
}

/** Folds a batch committed under `release` into what its live subscribers need (see CommittedHits). */
export function committedHits(batch: IngestBatch, release: string, receivedAt: number): CommittedHits {
  const hits = new Map<string, [number, string, boolean, number]>();
  for (const hit of batch.hits) {
    const ok = hit.statusClass === "2xx";
    const key = `${hit.source}\u0000${ok ? 1 : 0}\u0000${hit.operationId}`;
    const row = hits.get(key);
    if (row) row[3] += hit.count;
    else hits.set(key, [hit.source, hit.operationId, ok, hit.count]);
  }
  const unknownCalls = new Map<string, [number, boolean, number]>();
  for (const call of batch.unknownCalls) {
    const ok = call.statusClass === "2xx";
    // The apiserver's own paths (`/openapi/v3`, `/healthz`) are no unknown calls: no count, as in db, but
    // their source is still one the page sees.
    const count = call.reason === UNMATCHED_REASONS.outsideSpec ? 0 : call.count;
    const key = `${call.source}\u0000${ok ? 1 : 0}`;
    const row = unknownCalls.get(key);
    if (row) row[2] += count;
    else unknownCalls.set(key, [call.source, ok, count]);
  }
  return {
    release,
    receivedAt,
    sources: batch.sources,
    hits: [...hits.values()],
    unknownCalls: [...unknownCalls.values()],
  };
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

  /** Offers the hits of a batch that was just committed, by this replica or another. */
  publish(committed: CommittedHits): void {
    for (const subscriber of this.subscribers.values()) this.collect(subscriber, committed);
  }

  /** Stops every timer; pending hits are dropped (the pages reload their data on reconnect). */
  close(): void {
    for (const id of [...this.subscribers.keys()]) this.unsubscribe(id);
  }

  private collect(subscriber: Subscriber, committed: CommittedHits): void {
    const { scope } = subscriber;
    if (!scope.acceptsRelease(committed.release)) return;
    const accepted = committed.sources.map((source) => scope.acceptsSource(source));
    let pending = subscriber.pending;
    const take = (): Pending => {
      pending ??= {
        firstReceivedAt: committed.receivedAt,
        endpoints: new Map(),
        hits: 0,
        unknownCalls: 0,
        sources: new Map(),
      };
      return pending;
    };
    const noteSource = (into: Pending, index: number) => {
      const source = committed.sources[index];
      if (!source) return;
      const key = sourceKey(source);
      if (!into.sources.has(key)) into.sources.set(key, sourceLabel(source));
    };
    for (const [source, operationId, ok, count] of committed.hits) {
      if (!accepted[source]) continue;
      if (scope.successOnly && !ok) continue;
      if (!scope.acceptsEndpoint(operationId)) continue;
      const into = take();
      into.endpoints.set(operationId, (into.endpoints.get(operationId) ?? 0) + count);
      into.hits += count;
      noteSource(into, source);
    }
    for (const [source, ok, count] of committed.unknownCalls) {
      if (!accepted[source]) continue;
      if (scope.successOnly && !ok) continue;
      const into = take();
      into.unknownCalls += count;
      noteSource(into, source);
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
