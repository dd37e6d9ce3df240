import type { IngestBatch } from "@apisnoop/protocol";
import { type BucketFilter, prepareBuckets } from "./batch-buckets";
import { checkBuckets } from "./batch-limits";
import { upsertSources } from "./batch-sources";
import { type PrismaClient, poolOf } from "./client";
import { upsertFields } from "./field-counts";
import { upsertHits } from "./hit-rollups";
import { inPipelinedTransaction } from "./pipelined-transaction";
import { defaultReleaseName } from "./releases";
import { forgetHorizons } from "./retention";
import { upsertUnknownCalls } from "./unknown-call-rows";
import { batchWriteGate } from "./write-gate";

export { sourceIdentity } from "./batch-sources";

/** Release name that hits are stored under when neither the batch nor the database names one. */
export const UNKNOWN_RELEASE = "unknown";

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

/**
 * Stores one ingest batch in one transaction, idempotent by `batchId`: a replay (even a concurrent one)
 * returns `duplicate: true` and changes nothing. Sources are upserted by identity (sha256 of
 * `sourceKey()`); hit rollups (per endpoint x source, per endpoint and per source, by minute, hour and
 * day), all-time totals, unknown calls and field counts are added to what is stored
 * (`count = count + excluded.count`) with one bulk statement per table, never a round trip per row, and
 * the statements go out together: two round trips a batch, however many tables it writes.
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

/** How long one statement of a batch may run (waiting for locks included) before it fails the batch. */
const STATEMENT_TIMEOUT = "120s";

/**
 * The batch's transaction in two round trips: BEGIN, the claim of its id and the sources' upsert go out
 * together; then every table writer's statements and the COMMIT (pipelined-transaction.ts).
 */
async function storeBatch(
  prisma: PrismaClient,
  batch: IngestBatch,
  keep: BucketFilter,
): Promise<RecordBatchResult> {
  const release = batch.release ?? (await defaultReleaseName(prisma)) ?? UNKNOWN_RELEASE;
  return inPipelinedTransaction(poolOf(prisma), async (tx) => {
    tx.add(`SET LOCAL statement_timeout = '${STATEMENT_TIMEOUT}'`);
    const hitTotal = batch.hits.reduce((sum, hit) => sum + BigInt(hit.count), 0n);
    const claimed = tx.query(
      `INSERT INTO "IngestBatch" ("batchId", "proxyId", "release", "sentAt", "sources", "hitRows", "hits", "unknownCalls", "fieldRows")
       VALUES ($1::uuid, $2, $3, to_timestamp($4::double precision / 1000), $5, $6, $7::bigint, $8, $9)
       ON CONFLICT ("batchId") DO NOTHING RETURNING 1`,
      [
        batch.batchId,
        batch.proxyId,
        release,
        batch.sentAt,
        batch.sources.length,
        batch.hits.length,
        hitTotal.toString(),
        batch.unknownCalls.length,
        batch.fields.length,
      ],
    );
    // Sent before the claim is answered: it upserts only once this transaction has claimed the batch.
    const [claim, sourceIds] = await Promise.all([claimed, upsertSources(tx, batch)]);
    if (claim.length === 0) {
      return {
        batchId: batch.batchId,
        duplicate: true,
        release,
        sourceIds: [],
        rows: { hits: 0, unknownCalls: 0, fields: 0 },
      };
    }
    // Every transaction writes the tables in this order, each one's rows sorted: no deadlocks.
    const write = { statements: tx, release, batch, sourceIds, keep };
    const rows = {
      hits: upsertHits(write),
      unknownCalls: upsertUnknownCalls(write),
      fields: upsertFields(write),
    };
    return { batchId: batch.batchId, duplicate: false, release, sourceIds, rows };
  });
}
