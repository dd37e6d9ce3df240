import type { PrismaClient } from "./client";
import type { CoverageFilters } from "./filters";
import { type Horizons, retentionHorizons } from "./retention";

type Window = Pick<CoverageFilters, "from" | "to">;

const spans = new WeakMap<PrismaClient, Promise<{ first: Date | null; last: Date | null }>>();

/**
 * The first and last minute with hits or unknown calls of any source, from the per-source bounds kept at
 * ingest (one row per source, never a rollup table). Concurrent asks share one query; nothing is kept
 * after it, so data stored meanwhile counts at once.
 */
function dataSpan(prisma: PrismaClient): Promise<{ first: Date | null; last: Date | null }> {
  let pending = spans.get(prisma);
  if (!pending) {
    pending = prisma
      .$queryRawUnsafe<Array<{ first: Date | null; last: Date | null }>>(
        `SELECT min("firstSeen") AS first, max("lastSeen") AS last FROM "Source"`,
      )
      .then((rows) => rows[0] ?? { first: null, last: null });
    const forget = () => spans.delete(prisma);
    pending.then(forget, forget);
    spans.set(prisma, pending);
  }
  return pending;
}

/**
 * The window a view actually answers: `filters` with the parts of its time window that select nothing
 * dropped — a `from` at or before the first minute any source was seen, and a `to` after the last, hold
 * every row, so the view reads all-time totals (`from=0` is the whole history, answered like no window
 * at all, never a scan of every time bucket) — and an edge older than a retention horizon rounded out to
 * the hour or UTC day that holds it (`answeredWindow`), since only those buckets are kept there.
 */
export async function narrowWindow<F extends Window>(prisma: PrismaClient, filters: F): Promise<F> {
  if (!filters.from && !filters.to) return filters;
  const [{ first, last }, horizons] = await Promise.all([dataSpan(prisma), retentionHorizons(prisma)]);
  const keepFrom = !first || (filters.from && filters.from > first);
  const keepTo = !last || (filters.to && filters.to <= last);
  const narrowed = { ...filters };
  if (!keepFrom) delete narrowed.from;
  if (!keepTo) delete narrowed.to;
  const answered = answeredWindow(narrowed, horizons);
  if (answered.from) narrowed.from = answered.from;
  if (answered.to) narrowed.to = answered.to;
  return narrowed;
}

/**
 * A window with each edge older than a retention horizon rounded out: older than the minute horizon to
 * the whole hour that holds it, older than the hour horizon to the whole UTC day, as the buckets kept
 * there are. Minutes overlapping the window count, as everywhere.
 */
export function answeredWindow<F extends Window>(filters: F, horizons: Horizons): Pick<F, "from" | "to"> {
  const round = (edge: Date | undefined, up: boolean): Date | undefined => {
    if (!edge) return edge;
    let minute = up ? Math.ceil(edge.getTime() / 60_000) : Math.floor(edge.getTime() / 60_000);
    let rounded = false;
    for (const [length, horizon] of [
      [60, horizons.minute],
      [1440, horizons.hour],
    ] as const) {
      if (horizon && minute < horizon.getTime() / 60_000) {
        minute = (up ? Math.ceil(minute / length) : Math.floor(minute / length)) * length;
        rounded = true;
      }
    }
    // Within the horizons the edge stays as asked, to the millisecond.
    return rounded ? new Date(minute * 60_000) : edge;
  };
  return { from: round(filters.from, false), to: round(filters.to, true) };
}
