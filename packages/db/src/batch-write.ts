/**
 * What every table writer of `recordBatch` shares: the transaction it writes in, and the order it writes
 * rows in. Concurrent batches mostly touch the same rows; sorted by key, they lock them in one order and
 * never deadlock.
 */
import type { IngestBatch } from "@apisnoop/protocol";
import type { BucketFilter } from "./batch-buckets";

/**
 * Where a table writer puts its statements: each is sent at once, behind the ones before it, and none
 * waits for an answer; the batch's COMMIT follows the last one and fails if any of them failed (nothing
 * is then stored). So a writer's statements can use no result of an earlier one but what SQL itself
 * carries (a CTE's RETURNING), and they run in the order added: the tables' lock order.
 */
export interface BatchStatements {
  add(sql: string, ...params: unknown[]): void;
}

/** Sorts folded rows by their key, for a lock order every concurrent batch shares. */
export function sortedValues<T>(rows: Map<string, T>): T[] {
  return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}

/** What each table writer of a batch is given: one transaction, one release, the batch and its sources. */
export interface BatchWrite {
  statements: BatchStatements;
  /** The release the batch's rows are stored under, resolved once for the batch. */
  release: string;
  batch: IngestBatch;
  /** Database ids of `batch.sources`, by index. */
  sourceIds: number[];
  /** Which minute and hour buckets keep rows (retention); days and totals take every row. */
  keep: BucketFilter;
}
