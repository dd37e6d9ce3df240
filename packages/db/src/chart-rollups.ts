/**
 * The per-chart rollup (ChartRollup): a batch's hits by `helm.sh/chart` label and endpoint, per minute,
 * hour, UTC day and all time. A view narrowed by `chart` alone counts from it, so a chart of many pods
 * costs one row per endpoint and bucket, not one per pod.
 */
import type { BucketFilter } from "./batch-buckets";
import { type BatchWrite, sortedValues } from "./batch-write";
import { numberArray, textArray } from "./pg-arrays";

/** Bucket lengths in minutes; "all" is one bucket at the epoch. */
const UNITS = [
  ["minute", 1],
  ["hour", 60],
  ["day", 1440],
  ["all", Number.POSITIVE_INFINITY],
] as const;

type Unit = (typeof UNITS)[number][0];

interface ChartBucket {
  unit: Unit;
  /** The bucket's first minute, in epoch minutes (0 for "all"). */
  bucket: number;
  chart: string;
  operationId: string;
  hits: number;
  hits2xx: number;
}

/** Whether a row of `minute` goes into its `unit` bucket: days and all time take every row. */
function kept(keep: BucketFilter, unit: Unit, minute: number): boolean {
  if (unit === "minute") return keep.minute(minute);
  if (unit === "hour") return keep.hour(Math.floor(minute / 60) * 60);
  return true;
}

/**
 * Adds a batch's folded hit rows (one per endpoint x source x status class x minute) of sources with a
 * chart label to ChartRollup. Sources without one add nothing: no `chart` filter selects them.
 */
export function upsertChartRollups(
  write: Pick<BatchWrite, "statements" | "release" | "batch" | "sourceIds" | "keep">,
  rows: ReadonlyArray<{
    operationId: string;
    sourceId: number;
    statusClass: string;
    minute: number;
    count: number;
  }>,
): void {
  const { statements, release, batch, sourceIds, keep } = write;
  const chartOf = new Map<number, string>();
  batch.sources.forEach((source, index) => {
    if (source.chart) chartOf.set(sourceIds[index] as number, source.chart);
  });
  if (chartOf.size === 0) return;
  const buckets = new Map<string, ChartBucket>();
  for (const row of rows) {
    const chart = chartOf.get(row.sourceId);
    if (chart === undefined) continue;
    const hits2xx = row.statusClass === "2xx" ? row.count : 0;
    for (const [unit, minutes] of UNITS) {
      if (!kept(keep, unit, row.minute)) continue;
      const bucket = unit === "all" ? 0 : Math.floor(row.minute / minutes) * minutes;
      // Sorted by the primary key's order, so concurrent batches lock shared rows in one order.
      const key = `${chart}\u0000${unit}\u0000${String(bucket).padStart(12, "0")}\u0000${row.operationId}`;
      let total = buckets.get(key);
      if (!total) {
        total = { unit, bucket, chart, operationId: row.operationId, hits: 0, hits2xx: 0 };
        buckets.set(key, total);
      }
      total.hits += row.count;
      total.hits2xx += hits2xx;
    }
  }
  if (buckets.size === 0) return;
  const sorted = sortedValues(buckets);
  statements.add(
    `INSERT INTO "ChartRollup" AS r ("release", "chart", "unit", "bucket", "operationId", "hits", "hits2xx")
     SELECT $1, t.chart, t.unit, to_timestamp(t.bucket * 60), t.op, t.hits, t.hits2xx
     FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[])
       AS t(chart, unit, bucket, op, hits, hits2xx)
     ON CONFLICT ("release", "chart", "unit", "bucket", "operationId") DO UPDATE SET
       "hits" = r."hits" + excluded."hits",
       "hits2xx" = r."hits2xx" + excluded."hits2xx"`,
    release,
    textArray(sorted.map((total) => total.chart)),
    textArray(sorted.map((total) => total.unit)),
    numberArray(sorted.map((total) => total.bucket)),
    textArray(sorted.map((total) => total.operationId)),
    numberArray(sorted.map((total) => total.hits)),
    numberArray(sorted.map((total) => total.hits2xx)),
  );
}
