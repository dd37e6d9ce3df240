/**
 * The per-endpoint (EndpointRollup) and per-source (SourceRollup) rollups by minute, hour and day: what a
 * time window over all sources reads, folded by one accumulator.
 */
import type { BucketFilter } from "./batch-buckets";
import { type BatchStatements, sortedValues } from "./batch-write";
import { numberArray, textArray } from "./pg-arrays";
import type { UnknownAtMinute } from "./unknown-call-rows";

/** Bucket lengths of the per-endpoint and per-source rollups, in minutes. */
const UNITS = [
  ["minute", 1],
  ["hour", 60],
  ["day", 1440],
] as const;

/** Whether a row of `minute` goes into the `unit` bucket that holds it (days take every row). */
function kept(keep: BucketFilter, unit: (typeof UNITS)[number][0], minute: number): boolean {
  if (unit === "minute") return keep.minute(minute);
  if (unit === "hour") return keep.hour(Math.floor(minute / 60) * 60);
  return true;
}

/** Hits and unknown calls of one endpoint or one source in one minute, hour or day bucket. */
interface UnitTotal<Id> {
  unit: (typeof UNITS)[number][0];
  /** The bucket's first minute, in epoch minutes. */
  bucket: number;
  id: Id;
  hits: number;
  hits2xx: number;
  unknown: number;
}

/**
 * Folds what happened in a minute into the minute, hour and day buckets `keep` keeps: the one fold behind
 * the per-endpoint and the per-source rollups. `key` orders the ids, so that rows come out in one order
 * (unit, bucket, id) and concurrent batches lock them in that order.
 */
function unitBuckets<Id>(keep: BucketFilter, key: (id: Id) => string) {
  const buckets = new Map<string, UnitTotal<Id>>();
  return {
    add(id: Id, minute: number, hits: number, hits2xx: number, unknown: number): void {
      for (const [unit, minutes] of UNITS) {
        if (!kept(keep, unit, minute)) continue;
        const bucket = Math.floor(minute / minutes) * minutes;
        const at = `${unit}\u0000${bucket}\u0000${key(id)}`;
        let total = buckets.get(at);
        if (!total) {
          total = { unit, bucket, id, hits: 0, hits2xx: 0, unknown: 0 };
          buckets.set(at, total);
        }
        total.hits += hits;
        total.hits2xx += hits2xx;
        total.unknown += unknown;
      }
    },
    sorted: (): UnitTotal<Id>[] => sortedValues(buckets),
  };
}

/**
 * Adds a batch's hits to EndpointRollup, per endpoint and minute, hour and day whatever the source: what a
 * time window over all sources reads (about 900 rows a bucket).
 */
export function upsertEndpointRollups(
  statements: BatchStatements,
  release: string,
  rows: ReadonlyArray<{ operationId: string; statusClass: string; minute: number; count: number }>,
  keep: BucketFilter,
): void {
  const buckets = unitBuckets<string>(keep, (operationId) => operationId);
  for (const row of rows)
    buckets.add(row.operationId, row.minute, row.count, row.statusClass === "2xx" ? row.count : 0, 0);
  const sorted = buckets.sorted();
  statements.add(
    `INSERT INTO "EndpointRollup" AS r ("release", "operationId", "unit", "bucket", "hits", "hits2xx")
     SELECT $1, t.op, t.unit, to_timestamp(t.bucket * 60), t.hits, t.hits2xx
     FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) AS t(unit, op, bucket, hits, hits2xx)
     ON CONFLICT ("release", "unit", "bucket", "operationId") DO UPDATE SET
       "hits" = r."hits" + excluded."hits",
       "hits2xx" = r."hits2xx" + excluded."hits2xx"`,
    release,
    textArray(sorted.map((total) => total.unit)),
    textArray(sorted.map((total) => total.id)),
    numberArray(sorted.map((total) => total.bucket)),
    numberArray(sorted.map((total) => total.hits)),
    numberArray(sorted.map((total) => total.hits2xx)),
  );
}

/**
 * Adds a batch's hits and unknown calls to SourceRollup, per source and minute, hour and day: what the
 * source list and the unknown-call count of a time window read.
 */
export function upsertSourceRollups(
  statements: BatchStatements,
  release: string,
  rows: ReadonlyArray<{ sourceId: number; statusClass: string; minute: number; count: number }>,
  unknown: readonly UnknownAtMinute[],
  keep: BucketFilter,
): void {
  if (rows.length === 0 && unknown.length === 0) return;
  const buckets = unitBuckets<number>(keep, (sourceId) => String(sourceId).padStart(10, "0"));
  for (const row of rows)
    buckets.add(row.sourceId, row.minute, row.count, row.statusClass === "2xx" ? row.count : 0, 0);
  for (const call of unknown) buckets.add(call.sourceId, call.minute, 0, 0, call.calls);
  const sorted = buckets.sorted();
  statements.add(
    `INSERT INTO "SourceRollup" AS r ("release", "sourceId", "unit", "bucket", "hits", "hits2xx", "unknownCalls")
     SELECT $1, t.source, t.unit, to_timestamp(t.bucket * 60), t.hits, t.hits2xx, t.unknown
     FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
       AS t(unit, source, bucket, hits, hits2xx, unknown)
     ON CONFLICT ("release", "unit", "bucket", "sourceId") DO UPDATE SET
       "hits" = r."hits" + excluded."hits",
       "hits2xx" = r."hits2xx" + excluded."hits2xx",
       "unknownCalls" = r."unknownCalls" + excluded."unknownCalls"`,
    release,
    textArray(sorted.map((total) => total.unit)),
    numberArray(sorted.map((total) => total.id)),
    numberArray(sorted.map((total) => total.bucket)),
    numberArray(sorted.map((total) => total.hits)),
    numberArray(sorted.map((total) => total.hits2xx)),
    numberArray(sorted.map((total) => total.unknown)),
  );
}
