import { describe, expect, it } from "vitest";
import { contentBatchId, partBatchId } from "./batch-id";
import { decodeIngestBatch, type IngestBatch, PROTOCOL_VERSION } from "./ingest";
import { sourceFromUserAgent } from "./source";
import { splitIngestBatch } from "./split-batch";

/** A batch of `rows` hits, unknown calls and field counts spread over `sources` long-named sources. */
function bigBatch(rows: number, sources: number): IngestBatch {
  return {
    protocol: PROTOCOL_VERSION,
    batchId: "0f1e2d3c-4b5a-4968-8776-655443322110",
    proxyId: "p",
    release: "1.34",
    sentAt: 1,
    sources: Array.from({ length: sources }, (_, i) => sourceFromUserAgent(`agent-${i}/${"v".repeat(480)}`)),
    hits: Array.from({ length: rows }, (_, i) => ({
      source: i % sources,
      operationId: `op${i}`,
      method: "GET",
      statusClass: "2xx" as const,
      minute: 29_000_000 + (i % 7),
      count: 1 + (i % 3),
      details: (i % 5 === 0 ? { watch: 1 } : {}) as Record<string, number>,
    })),
    unknownCalls: Array.from({ length: rows / 10 }, (_, i) => ({
      source: (i * 7) % sources,
      method: "GET",
      path: `/x/${i}`,
      reason: "no such path",
      statusClass: "4xx" as const,
      minute: 29_000_000,
      count: 2,
    })),
    fields: Array.from({ length: rows / 10 }, (_, i) => ({
      source: (i * 3) % sources,
      operationId: `op${i}`,
      direction: "request" as const,
      field: `io.k8s.api.core.v1.Pod:spec.f${i}`,
      unknown: false,
      hour: 483_333,
      count: 1,
    })),
  };
}

/** Every row with its source resolved, so parts and the whole can be compared. */
function resolved(batches: IngestBatch[]) {
  const all = (key: "hits" | "unknownCalls" | "fields") =>
    batches
      .flatMap((batch) =>
        batch[key].map((row) => JSON.stringify({ ...row, source: batch.sources[row.source] })),
      )
      .sort();
  return { hits: all("hits"), unknownCalls: all("unknownCalls"), fields: all("fields") };
}

describe("splitIngestBatch", () => {
  it("keeps a batch within the limits as it is", () => {
    const batch = bigBatch(100, 3);
    expect(splitIngestBatch(batch)).toEqual([batch]);
  });

  it("deals a batch over the limits into valid parts within them, holding the same rows, with stable ids", () => {
    const batch = bigBatch(30_000, 2_000);
    const limits = { maxRows: 7_000, maxBytes: 1 << 20 };
    const parts = splitIngestBatch(batch, limits);
    expect(parts.length).toBeGreaterThan(5);
    for (const part of parts) {
      expect(decodeIngestBatch(part).ok).toBe(true);
      expect(part.hits.length + part.unknownCalls.length + part.fields.length).toBeLessThanOrEqual(
        limits.maxRows,
      );
      expect(Buffer.byteLength(JSON.stringify(part))).toBeLessThanOrEqual(limits.maxBytes);
      expect(new Set(part.sources.map((s) => s.userAgent)).size).toBe(part.sources.length);
    }
    expect(resolved(parts)).toEqual(resolved([batch]));
    expect(new Set(parts.map((part) => part.batchId)).size).toBe(parts.length);
    expect(splitIngestBatch(batch, limits).map((part) => part.batchId)).toEqual(
      parts.map((part) => part.batchId),
    );
    expect(parts[0]?.batchId).toBe(partBatchId(batch.batchId, 0));
  });
});

describe("contentBatchId", () => {
  it("makes the same UUID of the same content, one the ingest schema takes, and another of other content", () => {
    const id = contentBatchId("audit-import", "rows");
    expect(id).toBe(contentBatchId("audit-import", "rows"));
    expect(id).not.toBe(contentBatchId("audit-import", "rows2"));
    expect(id).not.toBe(contentBatchId("audit-importrows"));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(decodeIngestBatch({ ...bigBatch(10, 1), batchId: id }).ok).toBe(true);
  });
});
