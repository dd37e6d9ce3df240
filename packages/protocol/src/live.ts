import { z } from "zod";

/** The live namespace's path: read-only, browsers subscribe to deltas of what they show. */
export const LIVE_NAMESPACE = "/live";

/**
 * `data.reason` of the connect error a page gets when the web app already serves as many live viewers as
 * it allows; the page shows it and tries again later.
 */
export const LIVE_BUSY = "busy";

/**
 * The web app pushes at most this many deltas per second to one subscriber; hits in between coalesce.
 * While hits keep arriving, a hit waits for the next slot: up to 1000 / this many ms, the largest wait on
 * the way from a commit to a page (bench:replicas). 10 keeps that under 100 ms, while a page still
 * repaints at most 10 times a second and a replica sends at most 10 deltas a second per viewer.
 */
export const LIVE_MAX_DELTAS_PER_SECOND = 10;

/**
 * What a page subscribes to: its filters as the URL's query string (`release=1.34&chart=nginx&outcome=2xx`),
 * so the page, the HTTP API and the live namespace share one parser and cannot drift.
 */
export const LiveSubscriptionSchema = z.object({
  query: z.string().max(4096),
});
export type LiveSubscription = z.infer<typeof LiveSubscriptionSchema>;

/** The answer to `subscribe`: the release the filters resolved to, or why they were refused. */
export type LiveSubscribeAck = { ok: true; release: string | null } | { ok: false; error: string };

const count = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/**
 * Hits that arrived since the previous delta and match the subscriber's filters. Counts add to what the
 * page already shows; nothing is ever subtracted (a time window slides only on reload).
 */
export const LiveDeltaSchema = z.object({
  /** 1, 2, 3, ... per subscription: a gap means a delta was lost and the page should reload its data. */
  seq: z.number().int().positive(),
  /** When the first hit of this delta was received by the web app (epoch ms): hit-to-pixel latency. */
  firstReceivedAt: z.number().int().nonnegative(),
  /** Hits per operationId. */
  endpoints: z.record(z.string().max(256), count),
  /** Matched hits in this delta (the sum of `endpoints`). */
  hits: z.number().int().nonnegative(),
  /** Calls that matched no endpoint. */
  unknownCalls: z.number().int().nonnegative(),
  /** Sources seen in this delta, by their stable key, with a short label. */
  sources: z.array(z.object({ key: z.string(), label: z.string() })),
});
export type LiveDelta = z.infer<typeof LiveDeltaSchema>;

/** Events a browser sends on the live namespace. */
export interface LiveClientToServerEvents {
  subscribe: (subscription: LiveSubscription, ack: (result: LiveSubscribeAck) => void) => void;
}

/** Events the web app sends on the live namespace. */
export interface LiveServerToClientEvents {
  delta: (delta: LiveDelta) => void;
}
