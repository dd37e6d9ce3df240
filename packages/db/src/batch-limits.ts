/**
 * What of a decoded batch PostgreSQL can store: time buckets up to year 9999 (else the batch is refused
 * before anything is written) and key text cut to what a btree entry holds.
 */
import type { IngestBatch } from "@apisnoop/protocol";
import { InvalidBatchError } from "./errors";

/** The last epoch minute PostgreSQL timestamps and our buckets agree on (9999-12-31). */
const MAX_MINUTE = Math.floor(253_402_300_799 / 60);

/**
 * Longest path or field path stored, in UTF-8 bytes: both are part of a primary key, and a btree entry
 * must stay under ~2.7 kB. The protocol allows 2048 characters, which multi-byte text can exceed.
 */
export const MAX_KEY_TEXT_BYTES = 2048;

export function checkBuckets(batch: IngestBatch): void {
  for (const row of [...batch.hits, ...batch.unknownCalls]) {
    if (row.minute > MAX_MINUTE) throw new InvalidBatchError(`minute ${row.minute} is past year 9999`);
  }
  for (const row of batch.fields) {
    if (row.hour * 60 > MAX_MINUTE) throw new InvalidBatchError(`hour ${row.hour} is past year 9999`);
  }
}

/** `text` cut to at most `maxBytes` of UTF-8, on a character boundary. */
export function clipUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString("utf8");
}
