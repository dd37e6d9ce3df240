/**
 * A batch's calls outside the spec: the UnknownCall minute rows with their hour, day and all-time rollups,
 * and per source the counts the totals and the per-source rollups add (the apiserver's own paths left
 * out).
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

/** Unknown calls of one source, method, path, reason and status class in one bucket (or all time). */
interface UnknownCallBucket {
  sourceId: number;
  method: string;
  path: string;
  reason: string;
  statusClass: string;
  /** "minute", "hour" or "day", and its first minute (epoch minutes); "total" with bucket 0. */
  unit: "minute" | "hour" | "day" | "total";
  bucket: number;
  count: number;
  first: number;
  last: number;
}

/**
 * Adds a batch's unknown calls to UnknownCall (minutes), UnknownCallRollup (hours and UTC days) and
 * UnknownCallTotal (all time), each kept as `keep` says (days and totals take every call), so the
 * unknown-call list of a window reads whole days and hours and only its edge minutes. Returns the minute
 * rows written.
 */
export function upsertUnknownCalls(write: BatchWrite): number {
  const { statements, release, batch, sourceIds, keep } = write;
  const folded = new Map<string, UnknownCallBucket>();
  for (const call of batch.unknownCalls) {
    const sourceId = sourceIds[call.source] as number;
    const path = clipUtf8(call.path, MAX_KEY_TEXT_BYTES);
    const hour = Math.floor(call.minute / 60) * 60;
    const buckets: Array<[UnknownCallBucket["unit"], number]> = [
      ["day", Math.floor(call.minute / 1440) * 1440],
      ["total", 0],
    ];
    if (keep.minute(call.minute)) buckets.push(["minute", call.minute]);
    if (keep.hour(hour)) buckets.push(["hour", hour]);
    for (const [unit, bucket] of buckets) {
      // Unit and bucket first: rows come out sorted in one lock order (and grouped by table).
      const key = `${unit}\u0000${String(bucket).padStart(12, "0")}\u0000${sourceId}\u0000${call.method}\u0000${path}\u0000${call.reason}\u0000${call.statusClass}`;
      const row = folded.get(key);
      if (row) {
        row.count += call.count;
        row.first = Math.min(row.first, call.minute);
        row.last = Math.max(row.last, call.minute);
      } else {
        folded.set(key, {
          sourceId,
          method: call.method,
          path,
          reason: call.reason,
          statusClass: call.statusClass,
          unit,
          bucket,
          count: call.count,
          first: call.minute,
          last: call.minute,
        });
      }
    }
  }
  const rows = sortedValues(folded);
  const of = (units: ReadonlyArray<UnknownCallBucket["unit"]>) =>
    rows.filter((row) => units.includes(row.unit));
  const columns = (list: UnknownCallBucket[]) => [
    numberArray(list.map((row) => row.sourceId)),
    textArray(list.map((row) => row.method)),
    textArray(list.map((row) => row.path)),
    textArray(list.map((row) => row.reason)),
    textArray(list.map((row) => row.statusClass)),
    numberArray(list.map((row) => row.count)),
  ];
  const minutes = of(["minute"]);
  if (minutes.length > 0) {
    statements.add(
      `INSERT INTO "UnknownCall" AS u ("release", "sourceId", "method", "path", "reason", "statusClass", "minute", "count")
       SELECT $1, t.source, t.method, t.path, t.reason, t.status, to_timestamp(t.minute * 60), t.count
       FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[])
         AS t(source, method, path, reason, status, count, minute)
       ON CONFLICT ("release", "sourceId", "method", "path", "reason", "statusClass", "minute") DO UPDATE SET
         "count" = u."count" + excluded."count"`,
      release,
      ...columns(minutes),
      numberArray(minutes.map((row) => row.bucket)),
    );
  }
  const buckets = of(["day", "hour"]);
  if (buckets.length > 0) {
    statements.add(
      `INSERT INTO "UnknownCallRollup" AS u ("release", "sourceId", "method", "path", "reason", "statusClass", "unit", "bucket",
                                             "count", "firstSeen", "lastSeen")
       SELECT $1, t.source, t.method, t.path, t.reason, t.status, t.unit, to_timestamp(t.bucket * 60), t.count,
              to_timestamp(t.first * 60), to_timestamp(t.last * 60)
       FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::bigint[],
                   $10::bigint[], $11::bigint[])
         AS t(source, method, path, reason, status, count, unit, bucket, first, last)
       ON CONFLICT ("release", "unit", "bucket", "sourceId", "method", "path", "reason", "statusClass") DO UPDATE SET
         "count" = u."count" + excluded."count",
         "firstSeen" = LEAST(u."firstSeen", excluded."firstSeen"),
         "lastSeen" = GREATEST(u."lastSeen", excluded."lastSeen")`,
      release,
      ...columns(buckets),
      textArray(buckets.map((row) => row.unit)),
      numberArray(buckets.map((row) => row.bucket)),
      numberArray(buckets.map((row) => row.first)),
      numberArray(buckets.map((row) => row.last)),
    );
  }
  const totals = of(["total"]);
  if (totals.length > 0) {
    statements.add(
      `INSERT INTO "UnknownCallTotal" AS u ("release", "sourceId", "method", "path", "reason", "statusClass", "count",
                                            "firstSeen", "lastSeen")
       SELECT $1, t.source, t.method, t.path, t.reason, t.status, t.count, to_timestamp(t.first * 60), to_timestamp(t.last * 60)
       FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[])
         AS t(source, method, path, reason, status, count, first, last)
       ON CONFLICT ("release", "sourceId", "method", "path", "reason", "statusClass") DO UPDATE SET
         "count" = u."count" + excluded."count",
         "firstSeen" = LEAST(u."firstSeen", excluded."firstSeen"),
         "lastSeen" = GREATEST(u."lastSeen", excluded."lastSeen")`,
      release,
      ...columns(totals),
      numberArray(totals.map((row) => row.first)),
      numberArray(totals.map((row) => row.last)),
    );
  }
  return minutes.length;
}
