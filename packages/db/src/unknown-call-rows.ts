/**
 * A batch's calls outside the spec: the UnknownCall minute rows, and per source the counts the totals
 * and the per-source rollups add (the apiserver's own paths left out).
 */
import { UNMATCHED_REASONS } from "@apisnoop/openapi";
import type { IngestBatch } from "@apisnoop/protocol";
import { clipUtf8, MAX_KEY_TEXT_BYTES } from "./batch-limits";
import { type BatchWrite, sortedValues } from "./batch-write";
import { numberArray, textArray } from "./pg-arrays";

/** Unknown calls of one source (the apiserver's own paths left out) at one minute. */
export interface UnknownAtMinute {
  sourceId: number;
  minute: number;
  calls: number;
}

/** All-time unknown calls of one source in a batch (the apiserver's own paths left out). */
export interface SourceUnknownTotal {
  sourceId: number;
  calls: number;
  first: number;
  last: number;
}

/**
 * A batch's unknown calls per source, all-time (for SourceTotal) and per minute (for SourceRollup); calls
 * to the paths every apiserver serves outside its spec are not unknown and are left out.
 */
export function unknownCallsBySource(
  batch: IngestBatch,
  sourceIds: number[],
): { totals: SourceUnknownTotal[]; buckets: UnknownAtMinute[] } {
  const totals = new Map<number, SourceUnknownTotal>();
  const buckets: UnknownAtMinute[] = [];
  for (const call of batch.unknownCalls) {
    if (call.reason === UNMATCHED_REASONS.outsideSpec) continue;
    const sourceId = sourceIds[call.source] as number;
    buckets.push({ sourceId, minute: call.minute, calls: call.count });
    const total = totals.get(sourceId);
    if (total) {
      total.calls += call.count;
      total.first = Math.min(total.first, call.minute);
      total.last = Math.max(total.last, call.minute);
    } else totals.set(sourceId, { sourceId, calls: call.count, first: call.minute, last: call.minute });
  }
  return { totals: [...totals.values()].sort((a, b) => a.sourceId - b.sourceId), buckets };
}

/** Adds a batch's unknown calls to UnknownCall per minute kept; returns the rows written. */
export async function upsertUnknownCalls(write: BatchWrite): Promise<number> {
  const { tx, release, batch, sourceIds, keep } = write;
  const folded = new Map<
    string,
    {
      sourceId: number;
      method: string;
      path: string;
      reason: string;
      statusClass: string;
      minute: number;
      count: number;
    }
  >();
  for (const call of batch.unknownCalls) {
    if (!keep.minute(call.minute)) continue;
    const sourceId = sourceIds[call.source] as number;
    const path = clipUtf8(call.path, MAX_KEY_TEXT_BYTES);
    const key = `${sourceId}\u0000${call.method}\u0000${path}\u0000${call.reason}\u0000${call.statusClass}\u0000${call.minute}`;
    const row = folded.get(key);
    if (row) row.count += call.count;
    else folded.set(key, { ...call, sourceId, path });
  }
  const rows = sortedValues(folded);
  if (rows.length === 0) return 0;
  await tx.$executeRawUnsafe(
    `INSERT INTO "UnknownCall" AS u ("release", "sourceId", "method", "path", "reason", "statusClass", "minute", "count")
     SELECT $1, t.source, t.method, t.path, t.reason, t.status, to_timestamp(t.minute * 60), t.count
     FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[])
       AS t(source, method, path, reason, status, minute, count)
     ON CONFLICT ("release", "sourceId", "method", "path", "reason", "statusClass", "minute") DO UPDATE SET
       "count" = u."count" + excluded."count"`,
    release,
    numberArray(rows.map((row) => row.sourceId)),
    textArray(rows.map((row) => row.method)),
    textArray(rows.map((row) => row.path)),
    textArray(rows.map((row) => row.reason)),
    textArray(rows.map((row) => row.statusClass)),
    numberArray(rows.map((row) => row.minute)),
    numberArray(rows.map((row) => row.count)),
  );
  return rows.length;
}
