import {
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
}

/**
 * The live namespace: read-only for browsers. A page emits `subscribe({ query })` with its URL's filters
 * (again whenever they change) and then receives coalesced `delta` events scoped to those filters.
 */
export function setupLive(io: Server, deps: LiveDeps): void {
  // Server generics type only the main namespace; each namespace has its own event maps.
  const namespace = io.of(LIVE_NAMESPACE) as unknown as Namespace<
    LiveClientToServerEvents,
    LiveServerToClientEvents
  >;
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
