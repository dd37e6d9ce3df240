import { partBatchId } from "./batch-id";
import { INGEST_MAX_MESSAGE_BYTES, type IngestBatch } from "./ingest";

/** How big one batch may be: rows of all kinds, and bytes of its JSON. */
export interface BatchLimits {
  maxRows: number;
  maxBytes: number;
}

/**
 * What a proxy or an importer sends at most: 20,000 rows (one database transaction the web app commits in
 * well under a second) and a quarter of the web app's 64 MiB message limit, so a batch with many long
 * sources (user agents, e2e test names) still fits with room to spare.
 */
export const BATCH_LIMITS: BatchLimits = { maxRows: 20_000, maxBytes: INGEST_MAX_MESSAGE_BYTES / 4 };

type Row = IngestBatch["hits"][number] | IngestBatch["unknownCalls"][number] | IngestBatch["fields"][number];
type Placed = { kind: "hits" | "unknownCalls" | "fields"; row: Row };

/**
 * `batch` as one or more batches within `limits`, in order: the rows are dealt out in turn (at most
 * `maxRows` a part, and a part whose JSON is still over `maxBytes` halved until it fits), each part
 * carrying only the sources its rows name (renumbered) and an id derived from the batch's and its place
 * (`partBatchId`), so splitting the same batch again gives the same parts. A batch within the limits is
 * returned as it is. One row with its source over `maxBytes` still makes a part of its own (the schema
 * bounds every string, so such a part stays far below the web app's limit).
 */
export function splitIngestBatch(batch: IngestBatch, limits: BatchLimits = BATCH_LIMITS): IngestBatch[] {
  const rows: Placed[] = [
    ...batch.hits.map((row) => ({ kind: "hits" as const, row })),
    ...batch.unknownCalls.map((row) => ({ kind: "unknownCalls" as const, row })),
    ...batch.fields.map((row) => ({ kind: "fields" as const, row })),
  ];
  if (rows.length <= limits.maxRows && Buffer.byteLength(JSON.stringify(batch)) <= limits.maxBytes)
    return [batch];
  const parts: IngestBatch[] = [];
  const fit = (slice: Placed[]): void => {
    const part = assemble(batch, slice);
    if (slice.length > 1 && Buffer.byteLength(JSON.stringify(part)) > limits.maxBytes) {
      const half = Math.ceil(slice.length / 2);
      fit(slice.slice(0, half));
      fit(slice.slice(half));
    } else parts.push(part);
  };
  for (let from = 0; from < rows.length; from += limits.maxRows) fit(rows.slice(from, from + limits.maxRows));
  return parts.map((part, index) => ({ ...part, batchId: partBatchId(batch.batchId, index) }));
}

/** A batch of `slice`'s rows with only the sources they name, renumbered in order of first use. */
function assemble(batch: IngestBatch, slice: Placed[]): IngestBatch {
  const part: IngestBatch = { ...batch, sources: [], hits: [], unknownCalls: [], fields: [] };
  const renumber = new Map<number, number>();
  for (const { kind, row } of slice) {
    let index = renumber.get(row.source);
    if (index === undefined) {
      index = part.sources.length;
      part.sources.push(batch.sources[row.source] as IngestBatch["sources"][number]);
      renumber.set(row.source, index);
    }
    (part[kind] as Row[]).push({ ...row, source: index });
  }
  return part;
}
