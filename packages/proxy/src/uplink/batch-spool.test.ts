import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type IngestBatch, PROTOCOL_VERSION } from "@apisnoop/protocol";
import { describe, expect, it } from "vitest";
import { BatchSpool } from "./batch-spool";

const batch = (n: number): IngestBatch => ({
  protocol: PROTOCOL_VERSION,
  batchId: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
  proxyId: "p",
  release: "1.34",
  sentAt: n,
  sources: [],
  hits: [],
  unknownCalls: [],
  fields: [],
});

describe("BatchSpool", () => {
  it("keeps batches across reopening, oldest first, and forgets removed ones", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "spool-"));
    const first = BatchSpool.open(dir, 1 << 20);
    first.put(batch(1));
    first.put(batch(2));
    first.put(batch(3));
    const oldest = first.peek();
    expect(oldest?.batch.sentAt).toBe(1);
    if (oldest) first.remove(oldest.entry);
    fs.writeFileSync(path.join(dir, "000000000009.batch.json.tmp"), "{torn");
    const reopened = BatchSpool.open(dir, 1 << 20);
    expect(reopened.depth).toBe(2);
    expect(reopened.peek()?.batch.sentAt).toBe(2);
    reopened.put(batch(4)); // numbered after what was there, so order survives restarts
    const order: number[] = [];
    for (let next = reopened.peek(); next; next = reopened.peek()) {
      order.push(next.batch.sentAt);
      reopened.remove(next.entry);
    }
    expect(order).toEqual([2, 3, 4]);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
  });

  it("is full past its byte bound", () => {
    const spool = BatchSpool.open(fs.mkdtempSync(path.join(os.tmpdir(), "spool-")), 300);
    spool.put(batch(1));
    expect(spool.isFull).toBe(false);
    spool.put(batch(2));
    expect([spool.isFull, spool.depth]).toEqual([true, 2]);
  });
});
