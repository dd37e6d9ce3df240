/**
 * Which time buckets a batch's rows go into: retention's horizons (rows older than a unit's horizon, or
 * more than two days ahead of this clock, are kept only at coarser units and in the totals), and the
 * partitions the kept minute and hour rows need, made before the batch's transaction.
 */
import type { IngestBatch } from "@apisnoop/protocol";
import type { PrismaClient } from "./client";
import { ensurePartitionsFor, FUTURE_LIMIT_MS, type Horizons, retentionHorizons } from "./retention";

/** Which time buckets a batch's rows are stored in, besides days and totals (which take every row). */
export interface BucketFilter {
  /** The minute (epoch minutes) is kept in minute rollups. */
  minute(minute: number): boolean;
  /** The hour starting at this epoch minute is kept in hour rollups. */
  hour(hourStart: number): boolean;
}

/** Reads the horizons in force and makes the partitions that the batch's kept rows need. */
export async function prepareBuckets(prisma: PrismaClient, batch: IngestBatch): Promise<BucketFilter> {
  const filter = bucketFilter(await retentionHorizons(prisma), Date.now());
  const minutes = new Set<number>();
  const hours = new Set<number>();
  const add = (minute: number) => {
    if (filter.minute(minute)) minutes.add(minute);
    const hour = Math.floor(minute / 60) * 60;
    if (filter.hour(hour)) hours.add(hour);
  };
  for (const hit of batch.hits) add(hit.minute);
  for (const call of batch.unknownCalls) add(call.minute);
  for (const field of batch.fields) if (filter.hour(field.hour * 60)) hours.add(field.hour * 60);
  await ensurePartitionsFor(prisma, "minute", minutes);
  await ensurePartitionsFor(prisma, "hour", hours);
  return filter;
}

function bucketFilter(horizons: Horizons, now: number): BucketFilter {
  const latest = Math.floor((now + FUTURE_LIMIT_MS) / 60_000);
  const oldest = (horizon: Date | null) => (horizon ? Math.floor(horizon.getTime() / 60_000) : -Infinity);
  const minuteFrom = oldest(horizons.minute);
  const hourFrom = oldest(horizons.hour);
  return {
    minute: (minute) => minute >= minuteFrom && minute <= latest,
    hour: (hourStart) => hourStart >= hourFrom && hourStart <= latest,
  };
}
