/**
 * What every table writer of `recordBatch` shares: the transaction it writes in, and the order it writes
 * rows in. Concurrent batches mostly touch the same rows; sorted by key, they lock them in one order and
 * never deadlock.
 */
import type { PrismaClient } from "./client";

export type Tx = Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0];

/** Sorts folded rows by their key, for a lock order every concurrent batch shares. */
export function sortedValues<T>(rows: Map<string, T>): T[] {
  return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
}
