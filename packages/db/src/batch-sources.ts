/**
 * A batch's sources as stored: their identity, the upsert that widens first and last seen, and the
 * workload each one counts under.
 */
import { createHash } from "node:crypto";
import { type IngestBatch, type Source, sourceKey } from "@apisnoop/protocol";
import { booleanArray, numberArray, textArray } from "./pg-arrays";
import type { PipelinedTransaction } from "./pipelined-transaction";
import { workloadOf } from "./workloads";

/** The stored identity of a source: sha256 of `sourceKey()`, fixed-size for the unique index. */
export function sourceIdentity(source: Source): string {
  return createHash("sha256").update(sourceKey(source)).digest("hex");
}

/**
 * Upserts the batch's sources (equal ones once), widening first/last seen to the minutes of the rows that
 * name them, if this transaction has claimed the batch: its IngestBatch row is one this transaction
 * inserted (its `xmin` is ours). On a replay nothing is upserted. Returns the database id of each
 * `batch.sources` entry (none on a replay). Sent without waiting for the claim's answer, so that both
 * cost one round trip.
 */
export async function upsertSources(tx: PipelinedTransaction, batch: IngestBatch): Promise<number[]> {
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
  const stored = await tx.query<{ id: number; key: string }>(
    `INSERT INTO "Source" AS s ("key", "userAgent", "e2eTest", "conformance", "name", "namespace", "pod",
       "serviceAccount", "chart", "helmRelease", "managedBy", "firstSeen", "lastSeen", "workload", "cluster", "run")
     SELECT t.key, t.ua, t.e2e, t.conf, t.name, t.ns, t.pod, t.sa, t.chart, t.rel, t.mb,
            to_timestamp(t.first * 60), to_timestamp(t.last * 60), t.workload, t.cluster, t.run
     FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::text[], $6::text[], $7::text[],
                 $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[], $14::text[],
                 $15::text[], $16::text[])
       AS t(key, ua, e2e, conf, name, ns, pod, sa, chart, rel, mb, first, last, workload, cluster, run)
     WHERE EXISTS (SELECT 1 FROM "IngestBatch" b WHERE b."batchId" = $17::uuid AND b.xmin = pg_current_xact_id_if_assigned()::xid)
     ON CONFLICT ("key") DO UPDATE SET
       "firstSeen" = LEAST(s."firstSeen", excluded."firstSeen"),
       "lastSeen" = GREATEST(s."lastSeen", excluded."lastSeen")
     RETURNING "id", "key"`,
    [
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
      batch.batchId,
    ],
  );
  const idByKey = new Map(stored.map((row) => [row.key, row.id]));
  return keys.map((key) => idByKey.get(key) as number);
}

/** The workload (`workloadOf`) of each of a batch's sources, by database id; null for tests. */
export function workloadsById(batch: IngestBatch, sourceIds: number[]): Map<number, string | null> {
  const workloads = new Map<number, string | null>();
  batch.sources.forEach((source, index) => {
    workloads.set(sourceIds[index] as number, workloadOf(source));
  });
  return workloads;
}
