import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { watchFraming } from "./watch-framing";

/** A protobuf watch stream's framing: each event preceded by its length, 4 bytes big-endian. */
function lengthPrefixed(events: Buffer[]): Buffer {
  return Buffer.concat(
    events.flatMap((event) => {
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(event.length);
      return [prefix, event];
    }),
  );
}

/** Splits `bytes` at the given cut points (sorted, deduplicated, within range). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  return chunks;
}

/**
 * Byte offsets at which the stream is between events, found chunk by chunk as a drain does: the end of the
 * event in progress within the next chunk, then the rest of that chunk.
 */
function boundariesSeen(contentType: string, chunks: Buffer[]): number[] {
  const framing = watchFraming(contentType);
  if (!framing) throw new Error("no framing");
  const seen: number[] = [];
  let offset = 0;
  for (const chunk of chunks) {
    let rest = chunk;
    for (;;) {
      const end = framing.eventEndIn(rest);
      if (end === -1) {
        framing.feed(rest);
        offset += rest.length;
        break;
      }
      framing.feed(rest.subarray(0, end));
      offset += end;
      expect(framing.betweenEvents).toBe(true);
      seen.push(offset);
      rest = rest.subarray(end);
    }
    expect(framing.betweenEvents).toBe((seen.at(-1) ?? 0) === offset);
  }
  return seen;
}

describe("watchFraming", () => {
  it("follows JSON and protobuf watch streams, and nothing else", () => {
    expect(watchFraming("application/json")).not.toBeNull();
    expect(watchFraming("application/json;stream=watch")).not.toBeNull();
    expect(watchFraming("application/vnd.kubernetes.protobuf;stream=watch")).not.toBeNull();
    expect(watchFraming("application/cbor-seq")).toBeNull();
    expect(watchFraming(null)).toBeNull();
  });

  it("finds the end of a JSON event split across chunks", () => {
    const framing = watchFraming("application/json");
    if (!framing) throw new Error("no framing");
    expect(framing.betweenEvents).toBe(true);
    framing.feed(Buffer.from('{"type":"ADDED","object":{"a":'));
    expect(framing.betweenEvents).toBe(false);
    expect(framing.eventEndIn(Buffer.from("1}}"))).toBe(-1);
    expect(framing.eventEndIn(Buffer.from('1}}\n{"type":'))).toBe(4);
    framing.feed(Buffer.from("1}}\n"));
    expect(framing.betweenEvents).toBe(true);
  });

  it("finds the end of a protobuf event whose length prefix is split", () => {
    const stream = lengthPrefixed([Buffer.from("first"), Buffer.from("second")]);
    const framing = watchFraming("application/vnd.kubernetes.protobuf;stream=watch");
    if (!framing) throw new Error("no framing");
    framing.feed(stream.subarray(0, 2));
    expect(framing.betweenEvents).toBe(false);
    expect(framing.eventEndIn(stream.subarray(2, 8))).toBe(-1);
    expect(framing.eventEndIn(stream.subarray(2))).toBe(7);
    framing.feed(stream.subarray(2, 9));
    expect(framing.betweenEvents).toBe(true);
  });

  it("sees every event end and nothing else, however a stream is chunked", () => {
    const event = fc.uint8Array({ minLength: 0, maxLength: 40 }).map((bytes) => Buffer.from(bytes));
    fc.assert(
      fc.property(
        fc.array(event, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (events, cuts) => {
          const stream = lengthPrefixed(events);
          let offset = 0;
          const ends = events.map((e) => {
            offset += 4 + e.length;
            return offset;
          });
          expect(
            boundariesSeen("application/vnd.kubernetes.protobuf;stream=watch", split(stream, cuts)),
          ).toEqual(ends);
        },
      ),
      { numRuns: 2000 },
    );
    const line = fc
      .string({ unit: "grapheme", maxLength: 30 })
      .map((text) => `${JSON.stringify({ type: "MODIFIED", object: { text } })}\n`);
    fc.assert(
      fc.property(
        fc.array(line, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (lines, cuts) => {
          const stream = Buffer.from(lines.join(""));
          let offset = 0;
          const ends = lines.map((l) => {
            offset += Buffer.byteLength(l);
            return offset;
          });
          expect(boundariesSeen("application/json", split(stream, cuts))).toEqual(ends);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
