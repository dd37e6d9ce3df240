import {
  INGEST_NAMESPACE,
  INGEST_PATH,
  LIVE_BUSY,
  LIVE_NAMESPACE,
  type LiveClientToServerEvents,
  type LiveServerToClientEvents,
  LiveSubscriptionSchema,
} from "@apisnoop/protocol";
import type { Namespace, Server } from "socket.io";
import type { LiveHub, LiveScope } from "./live-hub";

/** Turns a page's query string into the scope of its live deltas, or says why the filters are bad. */
export type ScopeResolver = (
  query: string,
) => Promise<{ ok: true; scope: LiveScope; release: string | null } | { ok: false; error: string }>;

export interface LiveDeps {
  hub: LiveHub;
  resolveScope: ScopeResolver;
  /**
   * Pages connected to /live at once. Every committed batch is matched against every subscription on the
   * event loop, so more viewers cost ingest time; one more is refused with `LIVE_BUSY` and retries later.
   */
  maxViewers: number;
}

/**
 * The browsers' Socket.IO server serves the live namespace only. The main namespace refuses everyone, and
 * a proxy older than the ingest's own path (which connected to `/ingest` here) is told why it is refused.
 *
 * The live namespace: read-only for browsers. A page emits `subscribe({ query })` with its URL's filters
 * (again whenever they change) and then receives coalesced `delta` events scoped to those filters.
 */
export function setupLive(io: Server, deps: LiveDeps): void {
  // Server generics type only the main namespace; each namespace has its own event maps.
  const namespace = io.of(LIVE_NAMESPACE) as unknown as Namespace<
    LiveClientToServerEvents,
    LiveServerToClientEvents
  >;
  io.of("/").use((_socket, next) => next(new Error("no such namespace: browsers use /live")));
  io.of(INGEST_NAMESPACE).use((_socket, next) =>
    next(new Error(`ingest is served at path ${INGEST_PATH}: this proxy is older than the web app`)),
  );
  namespace.use((_socket, next) => {
    if (namespace.sockets.size < deps.maxViewers) return next();
    const refused = new Error(`too many live viewers (${deps.maxViewers}): live updates paused`);
    (refused as Error & { data: unknown }).data = { reason: LIVE_BUSY };
    next(refused);
  });
  namespace.on("connection", (socket) => {
    socket.on("subscribe", async (input, ack) => {
      const reply = typeof ack === "function" ? ack : () => {};
      const parsed = LiveSubscriptionSchema.safeParse(input);
      if (!parsed.success) {
        reply({ ok: false, error: "subscribe expects { query: string }" });
        return;
      }
      let resolved: Awaited<ReturnType<ScopeResolver>>;
      try {
        resolved = await deps.resolveScope(parsed.data.query);
      } catch (error) {
        resolved = { ok: false, error: `cannot subscribe: ${(error as Error).message}` };
      }
      if (!resolved.ok) {
        deps.hub.unsubscribe(socket.id);
        reply(resolved);
        return;
      }
      deps.hub.subscribe(socket.id, resolved.scope, (delta) => socket.emit("delta", delta));
      reply({ ok: true, release: resolved.release });
    });
    socket.on("disconnect", () => deps.hub.unsubscribe(socket.id));
  });
}
