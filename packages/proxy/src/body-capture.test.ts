import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { CaptureBudget, capturesRequestBody, capturesResponseBody } from "./body-capture";

describe("CaptureBudget", () => {
  it("keeps a stream's bytes as its consumer reads them, untouched", async () => {
    const budget = new CaptureBudget(1024, 4096);
    const stream = new PassThrough();
    const body = budget.capture(stream);
    const read: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => read.push(chunk));
    stream.end(Buffer.from('{"a":1}'));
    await new Promise((resolve) => stream.once("end", resolve));
    expect(body.bytesView().toString()).toBe('{"a":1}');
    expect(Buffer.concat(read).toString()).toBe('{"a":1}');
    expect([body.complete, body.skipped, budget.heldBytes]).toEqual([true, null, 7]);
    body.release();
    expect(budget.heldBytes).toBe(0);
  });

  it("gives up on a body over the cap, and on any body once the shared budget is spent", () => {
    const budget = new CaptureBudget(10, 15);
    const large = budget.capture(new PassThrough());
    large.add(Buffer.alloc(6));
    large.add(Buffer.alloc(6));
    expect([large.skipped, large.bytes, budget.heldBytes]).toEqual(["too large", 0, 0]);
    const first = budget.capture(new PassThrough());
    first.add(Buffer.alloc(9));
    const second = budget.capture(new PassThrough());
    second.add(Buffer.alloc(9));
    expect([first.skipped, second.skipped, budget.heldBytes]).toEqual([null, "capture budget", 9]);
  });
});

describe("prefix capture", () => {
  it("keeps the first bytes of a stream over the cap (a watch) instead of giving up", () => {
    const body = new CaptureBudget(100, 1000).capture(new PassThrough(), 10);
    body.add(Buffer.from("123456"));
    body.add(Buffer.from("789012"));
    body.add(Buffer.from("3"));
    expect([body.bytesView().toString(), body.truncated, body.skipped]).toEqual(["123456", true, null]);
  });

  it("holds at most maxStreams prefix captures at once, so long watches cannot starve other bodies", () => {
    const budget = new CaptureBudget(100, 1000, 2);
    const watches = [0, 1, 2].map(() => budget.capture(new PassThrough(), 10));
    expect(watches.map((body) => body.skipped)).toEqual([null, null, "capture budget"]);
    expect(budget.heldStreams).toBe(2);
    const list = budget.capture(new PassThrough());
    list.add(Buffer.alloc(50));
    expect(list.skipped).toBeNull();
    watches[0]?.release();
    watches[0]?.release(); // released twice (skip, then the flow's end): one place back, not two
    expect(budget.heldStreams).toBe(1);
    expect(budget.capture(new PassThrough(), 10).skipped).toBeNull();
  });
});

describe("capture policy", () => {
  it("captures write bodies but not protobuf, and whole JSON resources but not tables", () => {
    expect(capturesRequestBody("POST", "application/json")).toBe(true);
    expect(capturesRequestBody("PATCH", "application/apply-patch+yaml")).toBe(true);
    expect(capturesRequestBody("POST", "application/vnd.kubernetes.protobuf")).toBe(false);
    expect(capturesRequestBody("GET", null)).toBe(false);
    expect(capturesResponseBody("GET", 200, "application/json")).toBe(true);
    expect(capturesResponseBody("GET", 200, "application/json;as=Table;v=v1;g=meta.k8s.io")).toBe(false);
    expect(capturesResponseBody("GET", 404, "application/json")).toBe(false);
    expect(capturesResponseBody("POST", 201, "application/json")).toBe(false);
  });
});
