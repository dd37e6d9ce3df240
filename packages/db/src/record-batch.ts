import { createHash } from "node:crypto";
import { UNMATCHED_REASONS } from "@apisnoop/openapi";
import { type IngestBatch, type Source, sourceKey } from "@apisnoop/protocol";
import type { PrismaClient } from "./client";
import { InvalidBatchError } from "./errors";
import { booleanArray, numberArray, textArray } from "./pg-arrays";
import { defaultReleaseName } from "./releases";
import {
  ensurePartitionsFor,
  FUTURE_LIMIT_MS,
  forgetHorizons,
  type Horizons,
  retentionHorizons,
} from "./retention";
import { workloadOf } from "./workloads";
import { batchWriteGate } from "./write-gate";

/** Release name that hits are stored under when neither the batch nor the database names one. */
export const UNKNOWN_RELEASE = "unknown";

/** The last epoch minute PostgreSQL timestamps and our buckets agree on (9999-12-31). */
const MAX_MINUTE = Math.floor(253_402_300_799 / 60);

/**
 * Longest path or field path stored, in UTF-8 bytes: both are part of a primary key, and a btree entry
 * must stay under ~2.7 kB. The protocol allows 2048 characters, which multi-byte text can exceed.
 */
const MAX_KEY_TEXT_BYTES = 2048;

/** What `recordBatch` did. */
export interface RecordBatchResult {
  batchId: string;
  /** The batch id was stored before: nothing changed. */
  duplicate: boolean;
  /** The release the hits were stored under. */
  release: string;
  /** Database ids of `batch.sources`, by index (empty for a duplicate). */
  sourceIds: number[];
  /** Rows written per table after folding equal keys (0 for a duplicate). */
  rows: { hits: number; unknownCalls: number; fields: number };
}

type Tx = Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0];

/**
 * Stores one ingest batch in one transaction, idempotent by `batchId`: a replay (even a concurrent one)
 * returns `duplicate: true` and changes nothing. Sources are upserted by identity (sha256 of
 * `sourceKey()`); hit rollups (per endpoint x source, per endpoint and per source, by minute, hour and
 * day), all-time totals, unknown calls and field counts are added to what is stored
 * (`count = count + excluded.count`) with one bulk statement per table, never a round trip per row.
 * Hits of a batch without a release go to the default release (else "unknown").
 *
 * Rows older than a unit's retention horizon (retention.ts), or more than two days ahead of this clock,
 * are kept at the coarser units and in the totals only; the partitions the rest need are made first.
 *
 * The batch must have passed `decodeIngestBatch`; values that still cannot be stored (a time bucket past
 * year 9999) throw InvalidBatchError, and nothing is stored.
 */
export async function recordBatch(prisma: PrismaClient, batch: IngestBatch): Promise<RecordBatchResult> {
  checkBuckets(batch);
  const rows = batch.hits.length + batch.unknownCalls.length + batch.fields.length;
  return batchWriteGate(prisma, rows).run(async () => {
    try {
      return await storeBatch(prisma, batch, await prepareBuckets(prisma, batch));
    } catch (error) {
      // Another replica's retention dropped a partition this process still counted on: look again, once.
      if (!/no partition of relation/.test((error as Error).message)) throw error;
      forgetHorizons(prisma);
      return storeBatch(prisma, batch, await prepareBuckets(prisma, batch));
    }
  });
}

/** Which time buckets a batch's rows are stored in, besides days and totals (which take every row). */
interface BucketFilter {
  /** The minute (epoch minutes) is kept in minute rollups. */
  minute(minute: number): boolean;
  /** The hour starting at this epoch minute is kept in hour rollups. */
  hour(hourStart: number): boolean;
}

/** Reads the horizons in force and makes the partitions that the batch's kept rows need. */
async function prepareBuckets(prisma: PrismaClient, batch: IngestBatch): Promise<BucketFilter> {
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

function storeBatch(
  prisma: PrismaClient,
  batch: IngestBatch,
  keep: BucketFilter,
): Promise<RecordBatchResult> {
  return prisma.$transaction(async (tx) => {
    const release = batch.release ?? (await defaultReleaseName(tx)) ?? UNKNOWN_RELEASE;
    const hitTotal = batch.hits.reduce((sum, hit) => sum + BigInt(hit.count), 0n);
    const inserted = await tx.$queryRawUnsafe<unknown[]>(
      `INSERT INTO "IngestBatch" ("batchId", "proxyId", "release", "sentAt", "sources", "hitRows", "hits", "unknownCalls", "fieldRows")
       VALUES ($1::uuid, $2, $3, to_timestamp($4::double precision / 1000), $5, $6, $7::bigint, $8, $9)
       ON CONFLICT ("batchId") DO NOTHING RETURNING 1`,
      batch.batchId,
      batch.proxyId,
      release,
      batch.sentAt,
      batch.sources.length,
      batch.hits.length,
      hitTotal.toString(),
      batch.unknownCalls.length,
      batch.fields.length,
    );
    if (inserted.length === 0) {
      return {
        batchId: batch.batchId,
        duplicate: true,
        release,
        sourceIds: [],
        rows: { hits: 0, unknownCalls: 0, fields: 0 },
      };
    }
    const sourceIds = await upsertSources(tx, batch);
    // Every transaction writes the tables in this order, each one's rows sorted: no deadlocks.
    const rows = {
      hits: await upsertHits(tx, release, batch, sourceIds, keep),
      unknownCalls: await upsertUnknownCalls(tx, release, batch, sourceIds, keep),
      fields: await upsertFields(tx, release, batch, sourceIds, keep),
    };
    return { batchId: batch.batchId, duplicate: false, release, sourceIds, rows };
  });
}

function checkBuckets(batch: IngestBatch): void {
  for (const row of [...batch.hits, ...batch.unknownCalls]) {
    if (row.minute > MAX_MINUTE) throw new InvalidBatchError(`minute ${row.minute} is past year 9999`);
  }
  for (const row of batch.fields) {
    if (row.hour * 60 > MAX_MINUTE) throw new InvalidBatchError(`hour ${row.hour} is past year 9999`);
  }
}

/** The stored identity of a source: sha256 of `sourceKey()`, fixed-size for the unique index. */
export function sourceIdentity(source: Source): string {
  return createHash("sha256").update(sourceKey(source)).digest("hex");
}

/**
 * Upserts the batch's sources (equal ones once), widening first/last seen to the minutes of the rows that
 * name them. Returns the database id of each `batch.sources` entry.
 */
async function upsertSources(tx: Tx, batch: IngestBatch): Promise<number[]> {
  const keys = batch.sources.map(sourceIdentity);
  const fallback = Math.floor(batch.sentAt / 60_000);
  const seen = new Map<string, { source: Source; first: number; last: number }>();
  const widen = (index: number, minute: number) => {
    const key = keys[index] as string;
    const entry = seen.get(key);
    if (entry) {
      entry.first = Math.min(entry.first, minute);
      entry.last = Math.max(entry.last, minute);
    } else seen.set(key, { source: batch.sources[index] as Source, first: minute, last: minute });
  };
  for (const hit of batch.hits) widen(hit.source, hit.minute);
  for (const call of batch.unknownCalls) widen(call.source, call.minute);
  for (const field of batch.fields) widen(field.source, field.hour * 60);
  for (let index = 0; index < keys.length; index++) {
    if (!seen.has(keys[index] as string)) widen(index, fallback);
  }
  // Sorted by key so concurrent batches lock shared rows in the same order (no deadlocks).
  const entries = [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const column = (pick: (source: Source) => string | null) =>
    textArray(entries.map(([, e]) => pick(e.source)));
  const stored = await tx.$queryRawUnsafe<Array<{ id: number; key: string }>>(
    `INSERT INTO "Source" AS s ("key", "userAgent", "e2eTest", "conformance", "name", "namespace", "pod",
       "serviceAccount", "chart", "helmRelease", "managedBy", "firstSeen", "lastSeen", "workload", "cluster", "run")
     SELECT t.key, t.ua, t.e2e, t.conf, t.name, t.ns, t.pod, t.sa, t.chart, t.rel, t.mb,
            to_timestamp(t.first * 60), to_timestamp(t.last * 60), t.workload, t.cluster, t.run
     FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[], $6::text[], $7::text[],
                 $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[], $14::text[],
                 $15::text[], $16::text[])
       AS t(key, ua, e2e, conf, name, ns, pod, sa, chart, rel, mb, first, last, workload, cluster, run)
     ON CONFLICT ("key") DO UPDATE SET
       "firstSeen" = LEAST(s."firstSeen", excluded."firstSeen"),
       "lastSeen" = GREATEST(s."lastSeen", excluded."lastSeen")
     RETURNING "id", "key"`,
    textArray(entries.map(([key]) => key)),
    column((source) => source.userAgent),
    column((source) => source.e2eTest),
    booleanArray(entries.map(([, e]) => e.source.conformance)),
    column((source) => source.name),
    column((source) => source.namespace),
    column((source) => source.pod),
    column((source) => source.serviceAccount),
    column((source) => source.chart),
    column((source) => source.helmRelease),
    column((source) => source.managedBy),
    numberArray(entries.map(([, e]) => e.first)),
    numberArray(entries.map(([, e]) => e.last)),
    column(workloadOf),
    column((source) => source.cluster ?? null),
    column((source) => source.run ?? null),
  );
  const idByKey = new Map(stored.map((row) => [row.key, row.id]));
  return keys.map((key) => idByKey.get(key) as number);
}

/** Sorts folded rows by their key, for a lock order every concurrent batch shares. */
function sortedValues<T>(rows: Map<string, T>): T[] {
  return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}

async function upsertHits(
  tx: Tx,
  release: string,
  batch: IngestBatch,
  sourceIds: number[],
  keep: BucketFilter,
): Promise<number> {
  const unknown = unknownCallsBySource(batch, sourceIds);
  if (batch.hits.length === 0) {
    await upsertTotals(tx, release, [], unknown.totals);
    await upsertSourceRollups(tx, release, [], unknown.buckets, keep);
    return 0;
  }
  interface Row {
    operationId: string;
    sourceId: number;
    method: string;
    statusClass: string;
    minute: number;
    count: number;
    details: Record<string, number>;
  }
  // Fold equal keys first: one INSERT ... ON CONFLICT may not touch the same row twice.
  const rollups = new Map<string, Row>();
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
    foldTotal(totals, totalKey, hit.operationId, sourceId, hit.minute, hit.count, hit.statusClass === "2xx");
  }
  const rows = sortedValues(rollups);
  const minuteRows = rows.filter((row) => keep.minute(row.minute));
  if (minuteRows.length > 0) await upsertMinuteRollups(tx, release, minuteRows);
  await upsertTotals(tx, release, sortedValues(totals), unknown.totals);
  await upsertWorkloadHits(tx, release, totals.values(), workloadsById(batch, sourceIds));
  const hourRows = rows.filter((row) => keep.hour(Math.floor(row.minute / 60) * 60));
  if (hourRows.length > 0) await upsertBuckets(tx, release, hourRows, "HitRollupHour", "hour", 60);
  await upsertBuckets(tx, release, rows, "HitRollupDay", "day", 1440);
  await upsertEndpointRollups(tx, release, rows, keep);
  await upsertSourceRollups(tx, release, rows, unknown.buckets, keep);
  return minuteRows.length;
}

/** Adds folded rows to HitRollup, the minute rollup per endpoint x source x method x status class. */
async function upsertMinuteRollups(
  tx: Tx,
  release: string,
  rows: ReadonlyArray<{
    operationId: string;
    sourceId: number;
    method: string;
    statusClass: string;
    minute: number;
    count: number;
    details: Record<string, number>;
  }>,
): Promise<void> {
  await tx.$executeRawUnsafe(
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
async function upsertEndpointRollups(
  tx: Tx,
  release: string,
  rows: ReadonlyArray<{ operationId: string; statusClass: string; minute: number; count: number }>,
  keep: BucketFilter,
): Promise<void> {
  const buckets = unitBuckets<string>(keep, (operationId) => operationId);
  for (const row of rows)
    buckets.add(row.operationId, row.minute, row.count, row.statusClass === "2xx" ? row.count : 0, 0);
  const sorted = buckets.sorted();
  await tx.$executeRawUnsafe(
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

/** Unknown calls of one source (the apiserver's own paths left out) at one minute. */
interface UnknownAtMinute {
  sourceId: number;
  minute: number;
  calls: number;
}

/**
 * A batch's unknown calls per source, all-time (for SourceTotal) and per minute (for SourceRollup); calls
 * to the paths every apiserver serves outside its spec are not unknown and are left out.
 */
function unknownCallsBySource(
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

/**
 * Adds a batch's hits and unknown calls to SourceRollup, per source and minute, hour and day: what the
 * source list and the unknown-call count of a time window read.
 */
async function upsertSourceRollups(
  tx: Tx,
  release: string,
  rows: ReadonlyArray<{ sourceId: number; statusClass: string; minute: number; count: number }>,
  unknown: readonly UnknownAtMinute[],
  keep: BucketFilter,
): Promise<void> {
  if (rows.length === 0 && unknown.length === 0) return;
  const buckets = unitBuckets<number>(keep, (sourceId) => String(sourceId).padStart(10, "0"));
  for (const row of rows)
    buckets.add(row.sourceId, row.minute, row.count, row.statusClass === "2xx" ? row.count : 0, 0);
  for (const call of unknown) buckets.add(call.sourceId, call.minute, 0, 0, call.calls);
  const sorted = buckets.sorted();
  await tx.$executeRawUnsafe(
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

/** The workload (`workloadOf`) of each of a batch's sources, by database id; null for tests. */
function workloadsById(batch: IngestBatch, sourceIds: number[]): Map<number, string | null> {
  const workloads = new Map<number, string | null>();
  batch.sources.forEach((source, index) => {
    workloads.set(sourceIds[index] as number, workloadOf(source));
  });
  return workloads;
}

/** Adds a batch's endpoint x source totals of workloads to the totals per endpoint x workload. */
async function upsertWorkloadHits(
  tx: Tx,
  release: string,
  totals: Iterable<PairTotal>,
  workloads: Map<number, string | null>,
): Promise<void> {
  const byWorkload = new Map<
    string,
    { operationId: string; workload: string; hits: number; hits2xx: number }
  >();
  for (const total of totals) {
    const workload = workloads.get(total.sourceId);
    if (!workload) continue;
    const key = `${total.operationId}\u0000${workload}`;
    const row = byWorkload.get(key);
    if (row) {
      row.hits += total.hits;
      row.hits2xx += total.hits2xx;
    } else
      byWorkload.set(key, {
        operationId: total.operationId,
        workload,
        hits: total.hits,
        hits2xx: total.hits2xx,
      });
  }
  if (byWorkload.size === 0) return;
  const rows = sortedValues(byWorkload);
  await tx.$executeRawUnsafe(
    `INSERT INTO "WorkloadHitTotal" AS w ("release", "operationId", "workload", "hits", "hits2xx")
     SELECT $1, t.op, t.workload, t.hits, t.hits2xx
     FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS t(op, workload, hits, hits2xx)
     ON CONFLICT ("release", "operationId", "workload") DO UPDATE SET
       "hits" = w."hits" + excluded."hits",
       "hits2xx" = w."hits2xx" + excluded."hits2xx"`,
    release,
    textArray(rows.map((row) => row.operationId)),
    textArray(rows.map((row) => row.workload)),
    numberArray(rows.map((row) => row.hits)),
    numberArray(rows.map((row) => row.hits2xx)),
  );
}

/**
 * Adds a batch's folded minute rows to a coarser rollup (per endpoint x source x UTC hour or day), so time
 * windows read whole buckets instead of every minute in them. First/last minutes are kept per bucket, so
 * first/last seen in a window stay exact.
 */
async function upsertBuckets(
  tx: Tx,
  release: string,
  rows: ReadonlyArray<{
    operationId: string;
    sourceId: number;
    statusClass: string;
    minute: number;
    count: number;
  }>,
  table: "HitRollupHour" | "HitRollupDay",
  column: "hour" | "day",
  minutes: number,
): Promise<void> {
  const buckets = new Map<string, PairTotal>();
  for (const row of rows) {
    const bucket = Math.floor(row.minute / minutes) * minutes;
    const key = `${row.sourceId}\u0000${bucket}\u0000${row.operationId}`;
    foldTotal(buckets, key, row.operationId, row.sourceId, row.minute, row.count, row.statusClass === "2xx");
  }
  const sorted = sortedValues(buckets);
  await tx.$executeRawUnsafe(
    `INSERT INTO "${table}" AS b ("release", "operationId", "sourceId", "${column}", "hits", "hits2xx", "firstSeen", "lastSeen", "first2xx", "last2xx")
     SELECT $1, t.op, t.source, to_timestamp(t.bucket * 60), t.hits, t.hits2xx, to_timestamp(t.first * 60),
            to_timestamp(t.last * 60), to_timestamp(t.first2xx * 60), to_timestamp(t.last2xx * 60)
     FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])
       AS t(op, source, bucket, hits, hits2xx, first, last, first2xx, last2xx)
     ON CONFLICT ("release", "sourceId", "${column}", "operationId") DO UPDATE SET
       "hits" = b."hits" + excluded."hits",
       "hits2xx" = b."hits2xx" + excluded."hits2xx",
       "firstSeen" = LEAST(b."firstSeen", excluded."firstSeen"),
       "lastSeen" = GREATEST(b."lastSeen", excluded."lastSeen"),
       "first2xx" = LEAST(b."first2xx", excluded."first2xx"),
       "last2xx" = GREATEST(b."last2xx", excluded."last2xx")`,
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
  );
}

/**
 * Hits of one endpoint by one source in a batch, over all time or one hour or day bucket: counts and the
 * first and last minute, of all hits and of 2xx ones.
 */
interface PairTotal {
  operationId: string;
  sourceId: number;
  hits: number;
  hits2xx: number;
  first: number;
  last: number;
  first2xx?: number;
  last2xx?: number;
}

/** All-time unknown calls of one source in a batch (the apiserver's own paths left out). */
interface SourceUnknownTotal {
  sourceId: number;
  calls: number;
  first: number;
  last: number;
}

/**
 * Adds `count` hits of `minute` to the total under `key` (new for `operationId` × `sourceId` when
 * missing): the one fold behind the all-time totals and the hour and day buckets.
 */
function foldTotal(
  totals: Map<string, PairTotal>,
  key: string,
  operationId: string,
  sourceId: number,
  minute: number,
  count: number,
  ok: boolean,
): void {
  let total = totals.get(key);
  if (!total) {
    total = { operationId, sourceId, hits: 0, hits2xx: 0, first: minute, last: minute };
    totals.set(key, total);
  }
  total.hits += count;
  total.first = Math.min(total.first, minute);
  total.last = Math.max(total.last, minute);
  if (ok) {
    total.hits2xx += count;
    total.first2xx = Math.min(total.first2xx ?? minute, minute);
    total.last2xx = Math.max(total.last2xx ?? minute, minute);
  }
}

/**
 * Adds a batch's per endpoint x source totals to HitTotal and, in the same statement, its per-endpoint
 * totals to EndpointTotal and its per-source totals (with unknown calls) to SourceTotal. A pair counts as a
 * new source of its endpoint when its stored hits equal this batch's (nothing was there before); likewise
 * for 2xx. That test reads the row as upserted, so two concurrent batches with the same new pair count it
 * once.
 */
async function upsertTotals(
  tx: Tx,
  release: string,
  pairs: PairTotal[],
  unknown: SourceUnknownTotal[],
): Promise<void> {
  if (pairs.length === 0 && unknown.length === 0) return;
  await tx.$executeRawUnsafe(
    `WITH input AS (
       SELECT * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])
         AS t(op, source, hits, hits2xx, first, last, first2xx, last2xx)
     ),
     unknown AS (
       SELECT * FROM unnest($10::int[], $11::bigint[], $12::bigint[], $13::bigint[]) AS u(source, calls, first, last)
     ),
     pairs AS (
       INSERT INTO "HitTotal" AS h ("release", "operationId", "sourceId", "hits", "hits2xx", "firstSeen", "lastSeen", "first2xx", "last2xx")
       SELECT $1, i.op, i.source, i.hits, i.hits2xx, to_timestamp(i.first * 60), to_timestamp(i.last * 60),
              to_timestamp(i.first2xx * 60), to_timestamp(i.last2xx * 60)
       FROM input i
       ON CONFLICT ("release", "operationId", "sourceId") DO UPDATE SET
         "hits" = h."hits" + excluded."hits",
         "hits2xx" = h."hits2xx" + excluded."hits2xx",
         "firstSeen" = LEAST(h."firstSeen", excluded."firstSeen"),
         "lastSeen" = GREATEST(h."lastSeen", excluded."lastSeen"),
         "first2xx" = LEAST(h."first2xx", excluded."first2xx"),
         "last2xx" = GREATEST(h."last2xx", excluded."last2xx")
       RETURNING h."operationId", h."sourceId", h."hits", h."hits2xx"
     ),
     endpoints AS (
       SELECT i.op, sum(i.hits) AS hits, sum(i.hits2xx) AS hits2xx,
              count(*) FILTER (WHERE p."hits" = i.hits) AS sources,
              count(*) FILTER (WHERE i.hits2xx > 0 AND p."hits2xx" = i.hits2xx) AS sources2xx,
              min(i.first) AS first, max(i.last) AS last, min(i.first2xx) AS first2xx, max(i.last2xx) AS last2xx
       FROM input i JOIN pairs p ON p."operationId" = i.op AND p."sourceId" = i.source
       GROUP BY i.op
     ),
     sources AS (
       INSERT INTO "SourceTotal" AS s ("release", "sourceId", "hits", "hits2xx", "endpoints", "endpoints2xx",
                                       "firstSeen", "lastSeen", "unknownCalls")
       SELECT $1, x.source, sum(x.hits), sum(x.hits2xx), sum(x.endpoints), sum(x.endpoints2xx),
              to_timestamp(coalesce(min(x.first), min(x.call_first)) * 60),
              to_timestamp(coalesce(max(x.last), max(x.call_last)) * 60), sum(x.calls)
       FROM (
         SELECT i.source, i.hits, i.hits2xx, (p."hits" = i.hits)::int AS endpoints,
                (i.hits2xx > 0 AND p."hits2xx" = i.hits2xx)::int AS endpoints2xx, i.first, i.last,
                0 AS calls, NULL::bigint AS call_first, NULL::bigint AS call_last
         FROM input i JOIN pairs p ON p."operationId" = i.op AND p."sourceId" = i.source
         UNION ALL
         SELECT u.source, 0, 0, 0, 0, NULL, NULL, u.calls, u.first, u.last FROM unknown u
       ) x
       GROUP BY x.source ORDER BY x.source
       -- First and last seen are those of hits; a source with unknown calls only has theirs until it hits.
       ON CONFLICT ("release", "sourceId") DO UPDATE SET
         "hits" = s."hits" + excluded."hits",
         "hits2xx" = s."hits2xx" + excluded."hits2xx",
         "endpoints" = s."endpoints" + excluded."endpoints",
         "endpoints2xx" = s."endpoints2xx" + excluded."endpoints2xx",
         "firstSeen" = CASE WHEN excluded."hits" = 0 THEN s."firstSeen" WHEN s."hits" = 0 THEN excluded."firstSeen"
                            ELSE LEAST(s."firstSeen", excluded."firstSeen") END,
         "lastSeen" = CASE WHEN excluded."hits" = 0 THEN s."lastSeen" WHEN s."hits" = 0 THEN excluded."lastSeen"
                           ELSE GREATEST(s."lastSeen", excluded."lastSeen") END,
         "unknownCalls" = s."unknownCalls" + excluded."unknownCalls"
     )
     INSERT INTO "EndpointTotal" AS e ("release", "operationId", "hits", "hits2xx", "sources", "sources2xx",
                                       "firstSeen", "lastSeen", "first2xx", "last2xx")
     SELECT $1, n.op, n.hits, n.hits2xx, n.sources, n.sources2xx, to_timestamp(n.first * 60), to_timestamp(n.last * 60),
            to_timestamp(n.first2xx * 60), to_timestamp(n.last2xx * 60)
     FROM endpoints n ORDER BY n.op COLLATE "C"
     ON CONFLICT ("release", "operationId") DO UPDATE SET
       "hits" = e."hits" + excluded."hits",
       "hits2xx" = e."hits2xx" + excluded."hits2xx",
       "sources" = e."sources" + excluded."sources",
       "sources2xx" = e."sources2xx" + excluded."sources2xx",
       "firstSeen" = LEAST(e."firstSeen", excluded."firstSeen"),
       "lastSeen" = GREATEST(e."lastSeen", excluded."lastSeen"),
       "first2xx" = LEAST(e."first2xx", excluded."first2xx"),
       "last2xx" = GREATEST(e."last2xx", excluded."last2xx")`,
    release,
    textArray(pairs.map((pair) => pair.operationId)),
    numberArray(pairs.map((pair) => pair.sourceId)),
    numberArray(pairs.map((pair) => pair.hits)),
    numberArray(pairs.map((pair) => pair.hits2xx)),
    numberArray(pairs.map((pair) => pair.first)),
    numberArray(pairs.map((pair) => pair.last)),
    numberArray(pairs.map((pair) => pair.first2xx ?? null)),
    numberArray(pairs.map((pair) => pair.last2xx ?? null)),
    numberArray(unknown.map((total) => total.sourceId)),
    numberArray(unknown.map((total) => total.calls)),
    numberArray(unknown.map((total) => total.first)),
    numberArray(unknown.map((total) => total.last)),
  );
}

async function upsertUnknownCalls(
  tx: Tx,
  release: string,
  batch: IngestBatch,
  sourceIds: number[],
  keep: BucketFilter,
): Promise<number> {
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

async function upsertFields(
  tx: Tx,
  release: string,
  batch: IngestBatch,
  sourceIds: number[],
  keep: BucketFilter,
): Promise<number> {
  const folded = new Map<
    string,
    {
      operationId: string;
      sourceId: number;
      direction: string;
      field: string;
      unknown: boolean;
      hour: number;
      count: number;
    }
  >();
  for (const use of batch.fields) {
    if (!keep.hour(use.hour * 60)) continue;
    const sourceId = sourceIds[use.source] as number;
    const field = clipUtf8(use.field, MAX_KEY_TEXT_BYTES);
    const key = `${use.operationId}\u0000${use.direction}\u0000${field}\u0000${sourceId}\u0000${use.hour}`;
    const row = folded.get(key);
    if (row) {
      row.count += use.count;
      row.unknown ||= use.unknown;
    } else folded.set(key, { ...use, sourceId, field });
  }
  const rows = sortedValues(folded);
  if (rows.length === 0) return 0;
  await tx.$executeRawUnsafe(
    `INSERT INTO "FieldCount" AS f ("release", "operationId", "sourceId", "direction", "field", "unknown", "hour", "count")
     SELECT $1, t.op, t.source, t.direction, t.field, t.unknown, to_timestamp(t.hour * 3600), t.count
     FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::boolean[], $7::bigint[], $8::bigint[])
       AS t(op, source, direction, field, unknown, hour, count)
     ON CONFLICT ("release", "operationId", "direction", "field", "sourceId", "hour") DO UPDATE SET
       "count" = f."count" + excluded."count",
       "unknown" = f."unknown" OR excluded."unknown"`,
    release,
    textArray(rows.map((row) => row.operationId)),
    numberArray(rows.map((row) => row.sourceId)),
    textArray(rows.map((row) => row.direction)),
    textArray(rows.map((row) => row.field)),
    booleanArray(rows.map((row) => row.unknown)),
    numberArray(rows.map((row) => row.hour)),
    numberArray(rows.map((row) => row.count)),
  );
  // The all-time totals per source and per workload: the same rows without their hour, in key order (no
  // deadlocks); unknown fields are no workload's use of the schema.
  const workloads = workloadsById(batch, sourceIds);
  const totals = new Map<string, (typeof rows)[number]>();
  const byWorkload = new Map<string, (typeof rows)[number] & { workload: string }>();
  for (const row of rows) {
    const key = `${row.sourceId}\u0000${row.operationId}\u0000${row.direction}\u0000${row.field}`;
    const total = totals.get(key);
    if (total) {
      total.count += row.count;
      total.unknown ||= row.unknown;
    } else totals.set(key, { ...row });
    const workload = workloads.get(row.sourceId);
    if (row.unknown || !workload) continue;
    const workloadKey = `${row.operationId}\u0000${row.direction}\u0000${row.field}\u0000${workload}`;
    const workloadTotal = byWorkload.get(workloadKey);
    if (workloadTotal) workloadTotal.count += row.count;
    else byWorkload.set(workloadKey, { ...row, workload });
  }
  const totalRows = sortedValues(totals);
  await tx.$executeRawUnsafe(
    `INSERT INTO "FieldTotal" AS f ("release", "sourceId", "operationId", "direction", "field", "unknown", "count")
     SELECT $1, t.source, t.op, t.direction, t.field, t.unknown, t.count
     FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::bigint[])
       AS t(source, op, direction, field, unknown, count)
     ON CONFLICT ("release", "sourceId", "operationId", "direction", "field") DO UPDATE SET
       "count" = f."count" + excluded."count",
       "unknown" = f."unknown" OR excluded."unknown"`,
    release,
    numberArray(totalRows.map((row) => row.sourceId)),
    textArray(totalRows.map((row) => row.operationId)),
    textArray(totalRows.map((row) => row.direction)),
    textArray(totalRows.map((row) => row.field)),
    booleanArray(totalRows.map((row) => row.unknown)),
    numberArray(totalRows.map((row) => row.count)),
  );
  if (byWorkload.size > 0) {
    // Per workload, and per field the number of distinct workloads using it: a workload row inserted
    // (not updated: `xmax` is 0 only on a fresh row) is one more workload for its field.
    const workloadRows = sortedValues(byWorkload);
    await tx.$executeRawUnsafe(
      `WITH t AS (
         SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
           AS t(op, direction, field, workload, count)
       ),
       upserted AS (
         INSERT INTO "WorkloadFieldTotal" AS f ("release", "operationId", "direction", "field", "workload", "count")
         SELECT $1, t.op, t.direction, t.field, t.workload, t.count FROM t
         ON CONFLICT ("release", "operationId", "direction", "field", "workload") DO UPDATE SET
           "count" = f."count" + excluded."count"
         RETURNING f."operationId", f."direction", f."field", (f.xmax = 0) AS inserted
       ),
       added AS (
         SELECT n."operationId" AS op, n."direction", n."field", count(*) FILTER (WHERE n.inserted) AS workloads
         FROM upserted n GROUP BY 1, 2, 3
       ),
       sums AS (SELECT t.op, t.direction, t.field, sum(t.count) AS count FROM t GROUP BY 1, 2, 3)
       INSERT INTO "FieldUse" AS u ("release", "operationId", "direction", "field", "workloads", "count", "conformance")
       SELECT $1, s.op, s.direction, s.field, a.workloads, s.count, false
       FROM sums s JOIN added a ON a.op = s.op AND a.direction = s.direction AND a.field = s.field
       ORDER BY s.op, s.direction, s.field
       ON CONFLICT ("release", "operationId", "direction", "field") DO UPDATE SET
         "workloads" = u."workloads" + excluded."workloads",
         "count" = u."count" + excluded."count"`,
      release,
      textArray(workloadRows.map((row) => row.operationId)),
      textArray(workloadRows.map((row) => row.direction)),
      textArray(workloadRows.map((row) => row.field)),
      textArray(workloadRows.map((row) => row.workload)),
      numberArray(workloadRows.map((row) => row.count)),
    );
  }
  // Fields conformance tests' bodies carried: what field gaps leave out.
  const conformanceIds = new Set(
    batch.sources.flatMap((source, index) => (source.conformance ? [sourceIds[index] as number] : [])),
  );
  const carried = new Map<string, (typeof rows)[number]>();
  for (const row of rows) {
    if (row.unknown || !conformanceIds.has(row.sourceId)) continue;
    carried.set(`${row.operationId}\u0000${row.direction}\u0000${row.field}`, row);
  }
  if (carried.size > 0) {
    const carriedRows = sortedValues(carried);
    await tx.$executeRawUnsafe(
      `INSERT INTO "FieldUse" AS u ("release", "operationId", "direction", "field", "workloads", "count", "conformance")
       SELECT $1, t.op, t.direction, t.field, 0, 0, true
       FROM unnest($2::text[], $3::text[], $4::text[]) AS t(op, direction, field)
       ON CONFLICT ("release", "operationId", "direction", "field") DO UPDATE SET "conformance" = true`,
      release,
      textArray(carriedRows.map((row) => row.operationId)),
      textArray(carriedRows.map((row) => row.direction)),
      textArray(carriedRows.map((row) => row.field)),
    );
  }
  return rows.length;
}

/** `text` cut to at most `maxBytes` of UTF-8, on a character boundary. */
function clipUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString("utf8");
}
