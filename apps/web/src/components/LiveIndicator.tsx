"use client";

import { useEffect, useState } from "react";
import type { LiveStatus } from "./use-live-deltas";

const LABELS: Record<LiveStatus, string> = {
  connecting: "connecting…",
  live: "live",
  offline: "offline — reconnecting",
  refused: "live updates refused",
  busy: "live updates paused: too many viewers",
};

/** A dot and a word: whether the page receives live hits, pulsing briefly when a delta arrives. */
export function LiveIndicator({ status, lastDeltaAt }: { status: LiveStatus; lastDeltaAt: number | null }) {
  const [pulse, setPulse] = useState(false);
  useEffect(() => {
    if (lastDeltaAt === null) return;
    setPulse(true);
    const timer = setTimeout(() => setPulse(false), 600);
    return () => clearTimeout(timer);
  }, [lastDeltaAt]);
  return (
    <span
      className={`live live-${status}${pulse ? " live-pulse" : ""}`}
      data-testid="live-indicator"
      data-status={status}
    >
      <span className="live-dot" aria-hidden="true" />
      {LABELS[status]}
    </span>
  );
}
