"use client";

import {
  LIVE_BUSY,
  LIVE_NAMESPACE,
  type LiveClientToServerEvents,
  type LiveDelta,
  type LiveServerToClientEvents,
} from "@apisnoop/protocol";
import { useEffect, useRef, useState } from "react";
import { io, type Socket } from "socket.io-client";

/**
 * connecting: not yet subscribed; live: receiving deltas; offline: connection lost; refused: bad filters;
 * busy: the web app serves as many live viewers as it allows (tried again every 30 s).
 */
export type LiveStatus = "connecting" | "live" | "offline" | "refused" | "busy";

const BUSY_RETRY_MS = 30_000;

/**
 * Subscribes to the live namespace with the page's filters (its query string) and calls `onDelta` for
 * each delta. Re-subscribes when the query changes and after reconnects; `onGap` is called when a delta
 * was missed (or the connection dropped), so the page can reload its figures from the server.
 */
export function useLiveDeltas(
  query: string,
  onDelta: (delta: LiveDelta) => void,
  onGap: () => void,
): { status: LiveStatus; lastDeltaAt: number | null } {
  const [status, setStatus] = useState<LiveStatus>("connecting");
  const [lastDeltaAt, setLastDeltaAt] = useState<number | null>(null);
  const handlers = useRef({ onDelta, onGap });
  handlers.current = { onDelta, onGap };

  useEffect(() => {
    // WebSocket only: long-polling sends each request anew, and behind several web replicas a request
    // reaching another replica than the session's is refused, so polling would need sticky sessions.
    const socket: Socket<LiveServerToClientEvents, LiveClientToServerEvents> = io(LIVE_NAMESPACE, {
      transports: ["websocket"],
    });
    let expected = 1;
    let everConnected = false;
    socket.on("connect", () => {
      if (everConnected) handlers.current.onGap();
      everConnected = true;
      expected = 1;
      socket.emit("subscribe", { query }, (answer) => setStatus(answer.ok ? "live" : "refused"));
    });
    socket.on("disconnect", () => setStatus("offline"));
    let retry: ReturnType<typeof setTimeout> | undefined;
    socket.on("connect_error", (error) => {
      const reason = (error as Error & { data?: { reason?: unknown } }).data?.reason;
      if (reason !== LIVE_BUSY) return setStatus("offline");
      // Refused by the server's middleware: Socket.IO does not reconnect on its own after that.
      setStatus("busy");
      retry = setTimeout(() => socket.connect(), BUSY_RETRY_MS);
    });
    socket.on("delta", (delta) => {
      if (delta.seq !== expected) handlers.current.onGap();
      expected = delta.seq + 1;
      setLastDeltaAt(Date.now());
      handlers.current.onDelta(delta);
    });
    return () => {
      clearTimeout(retry);
      socket.disconnect();
    };
  }, [query]);

  return { status, lastDeltaAt };
}
