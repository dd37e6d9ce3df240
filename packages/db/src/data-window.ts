import type { PrismaClient } from "./client";
import type { CoverageFilters } from "./filters";

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
 * `filters` with the parts of its time window that select nothing away: a `from` at or before the first
 * minute any source was seen, and a `to` after the last, hold every row, so they are dropped and the view
 * reads all-time totals. `from=0` is the whole history, answered like no window at all — never a scan of
 * every time bucket. A window that narrows the data is kept as it is.
 */
export async function narrowWindow<F extends Window>(prisma: PrismaClient, filters: F): Promise<F> {
  if (!filters.from && !filters.to) return filters;
  const { first, last } = await dataSpan(prisma);
  if (!first || !last) return filters;
  const keepFrom = filters.from && filters.from > first;
  const keepTo = filters.to && filters.to <= last;
  if (keepFrom && keepTo) return filters;
  const narrowed = { ...filters };
  if (!keepFrom) delete narrowed.from;
  if (!keepTo) delete narrowed.to;
  return narrowed;
}
