/**
 * A batch's hits: folded by endpoint x source x method x status class x minute, then written to the
 * minute, hour and day rollups per endpoint x source, the all-time totals and the per-endpoint,
 * per-source and per-chart rollups, in one fixed table order.
 */
import { workloadsById } from "./batch-sources";
import { type BatchStatements, type BatchWrite, sortedValues } from "./batch-write";
import { upsertChartRollups } from "./chart-rollups";
import { addCountsSql, foldTotal, type PairTotal, upsertTotals, upsertWorkloadHits } from "./hit-totals";
import { numberArray, textArray } from "./pg-arrays";
import { upsertEndpointRollups, upsertSourceRollups } from "./unit-rollups";
import { unknownCallsBySource } from "./unknown-call-rows";

/** A batch's hits folded by endpoint x source x method x status class x minute: one HitRollup row. */
interface MinuteHitRow {
  operationId: string;
  sourceId: number;
  method: string;
  statusClass: string;
  minute: number;
  count: number;
  details: Record<string, number>;
}

/**
 * Writes a batch's hits to every hit table (see the module's comment) and returns the minute rows
 * written; with no hits, the unknown calls still reach the totals and the per-source rollups.
 */
export function upsertHits(write: BatchWrite): number {
  const { statements, release, batch, sourceIds, keep } = write;
  const unknown = unknownCallsBySource(batch, sourceIds);
  if (batch.hits.length === 0) {
    upsertTotals(statements, release, [], unknown.totals);
    upsertSourceRollups(statements, release, [], unknown.buckets, keep);
    return 0;
  }
  // Fold equal keys first: one INSERT ... ON CONFLICT may not touch the same row twice.
  const rollups = new Map<string, MinuteHitRow>();
  const totals = new Map<string, PairTotal>();
  for (const hit of batch.hits) {
    const sourceId = sourceIds[hit.source] as number;
    const key = `${hit.operationId}\u0000${sourceId}\u0000${hit.method}\u0000${hit.statusClass}\u0000${hit.minute}`;
    const row = rollups.get(key);
    if (row) {
      row.count += hit.count;
      for (const [detail, count] of Object.entries(hit.details)) {
        row.details[detail] = (row.details[detail] ?? 0) + count;
      }
    } else {
      rollups.set(key, {
        operationId: hit.operationId,
        sourceId,
        method: hit.method,
        statusClass: hit.statusClass,
        minute: hit.minute,
        count: hit.count,
        details: { ...hit.details },
      });
    }
    const totalKey = `${hit.operationId}\u0000${sourceId}`;
    foldTotal(
      totals,
      totalKey,
      hit.operationId,
      sourceId,
      hit.minute,
      hit.count,
      hit.statusClass,
      hit.details,
    );
  }
  const rows = sortedValues(rollups);
  const minuteRows = rows.filter((row) => keep.minute(row.minute));
  if (minuteRows.length > 0) upsertMinuteRollups(statements, release, minuteRows);
  upsertTotals(statements, release, sortedValues(totals), unknown.totals);
  upsertWorkloadHits(statements, release, totals.values(), workloadsById(batch, sourceIds));
  const hourRows = rows.filter((row) => keep.hour(Math.floor(row.minute / 60) * 60));
  if (hourRows.length > 0) upsertBuckets(statements, release, hourRows, "HitRollupHour", "hour", 60);
  upsertBuckets(statements, release, rows, "HitRollupDay", "day", 1440);
  upsertEndpointRollups(statements, release, rows, keep);
  upsertSourceRollups(statements, release, rows, unknown.buckets, keep);
  upsertChartRollups(write, rows);
  return minuteRows.length;
}

/** Adds folded rows to HitRollup, the minute rollup per endpoint x source x method x status class. */
function upsertMinuteRollups(
  statements: BatchStatements,
  release: string,
  rows: readonly MinuteHitRow[],
): void {
  statements.add(
    `INSERT INTO "HitRollup" AS h ("release", "operationId", "sourceId", "method", "statusClass", "minute", "count", "details")
     SELECT $1, t.op, t.source, t.method, t.status, to_timestamp(t.minute * 60), t.count, t.details
     FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::jsonb[])
       AS t(op, source, method, status, minute, count, details)
     ON CONFLICT ("release", "operationId", "sourceId", "method", "statusClass", "minute") DO UPDATE SET
       "count" = h."count" + excluded."count",
       "details" = CASE WHEN excluded."details" = '{}' THEN h."details"
                        ELSE apisnoop_add_counts(h."details", excluded."details") END`,
    release,
    textArray(rows.map((row) => row.operationId)),
    numberArray(rows.map((row) => row.sourceId)),
    textArray(rows.map((row) => row.method)),
    textArray(rows.map((row) => row.statusClass)),
    numberArray(rows.map((row) => row.minute)),
    numberArray(rows.map((row) => row.count)),
    textArray(rows.map((row) => JSON.stringify(row.details))),
  );
}

/**
 * Adds a batch's folded minute rows to a coarser rollup (per endpoint x source x UTC hour or day), so time
 * windows read whole buckets instead of every minute in them. First/last minutes are kept per bucket, so
 * first/last seen in a window stay exact.
 */
function upsertBuckets(
  statements: BatchStatements,
  release: string,
  rows: readonly MinuteHitRow[],
  table: "HitRollupHour" | "HitRollupDay",
  column: "hour" | "day",
  minutes: number,
): void {
  const buckets = new Map<string, PairTotal>();
  for (const row of rows) {
    const bucket = Math.floor(row.minute / minutes) * minutes;
    const key = `${row.sourceId}\u0000${bucket}\u0000${row.operationId}`;
    foldTotal(
      buckets,
      key,
      row.operationId,
      row.sourceId,
      row.minute,
      row.count,
      row.statusClass,
      row.details,
    );
  }
  const sorted = sortedValues(buckets);
  statements.add(
    `INSERT INTO "${table}" AS b ("release", "operationId", "sourceId", "${column}", "hits", "hits2xx", "firstSeen", "lastSeen", "first2xx", "last2xx",
                                 "otherStatusClasses", "details")
     SELECT $1, t.op, t.source, to_timestamp(t.bucket * 60), t.hits, t.hits2xx, to_timestamp(t.first * 60),
            to_timestamp(t.last * 60), to_timestamp(t.first2xx * 60), to_timestamp(t.last2xx * 60), t.others, t.details
     FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
                 $11::jsonb[], $12::jsonb[])
       AS t(op, source, bucket, hits, hits2xx, first, last, first2xx, last2xx, others, details)
     ON CONFLICT ("release", "sourceId", "${column}", "operationId") DO UPDATE SET
       "hits" = b."hits" + excluded."hits",
       "hits2xx" = b."hits2xx" + excluded."hits2xx",
       "firstSeen" = LEAST(b."firstSeen", excluded."firstSeen"),
       "lastSeen" = GREATEST(b."lastSeen", excluded."lastSeen"),
       "first2xx" = LEAST(b."first2xx", excluded."first2xx"),
       "last2xx" = GREATEST(b."last2xx", excluded."last2xx"),
       "otherStatusClasses" = ${addCountsSql(`b."otherStatusClasses"`, `excluded."otherStatusClasses"`)},
       "details" = ${addCountsSql(`b."details"`, `excluded."details"`)}`,
    release,
    textArray(sorted.map((total) => total.operationId)),
    numberArray(sorted.map((total) => total.sourceId)),
    // Every minute of a bucket starts it the same way, the first one included.
    numberArray(sorted.map((total) => Math.floor(total.first / minutes) * minutes)),
    numberArray(sorted.map((total) => total.hits)),
    numberArray(sorted.map((total) => total.hits2xx)),
    numberArray(sorted.map((total) => total.first)),
    numberArray(sorted.map((total) => total.last)),
    numberArray(sorted.map((total) => total.first2xx ?? null)),
    numberArray(sorted.map((total) => total.last2xx ?? null)),
    textArray(sorted.map((total) => JSON.stringify(total.otherStatusClasses))),
    textArray(sorted.map((total) => JSON.stringify(total.details))),
  );
}
