import { describe, expect, it } from "vitest";
import { HandshakeAdmission } from "./handshake-admission";

describe("HandshakeAdmission", () => {
  it("starts up to the limit per address at once, the rest in arrival order as turns end", () => {
    const admission = new HandshakeAdmission(2);
    const started: string[] = [];
    const ends = ["a1", "a2", "a3", "a4"].map((name) =>
      admission.admit("10.0.0.1", () => started.push(name)),
    );
    expect(started).toEqual(["a1", "a2"]);
    expect(admission.waiting).toBe(2);
    ends[1]?.();
    expect(started).toEqual(["a1", "a2", "a3"]);
    ends[1]?.(); // a second call changes nothing
    expect(started).toEqual(["a1", "a2", "a3"]);
    ends[0]?.();
    expect(started).toEqual(["a1", "a2", "a3", "a4"]);
    expect(admission.waiting).toBe(0);
    ends[2]?.();
    ends[3]?.();
    expect(admission.addressCount).toBe(0);
  });

  it("never holds one address up behind another's queue", () => {
    const admission = new HandshakeAdmission(1);
    const started: string[] = [];
    for (let i = 0; i < 100; i++) admission.admit("flood", () => started.push(`flood${i}`));
    admission.admit("kubectl", () => started.push("kubectl"));
    expect(started).toEqual(["flood0", "kubectl"]);
    expect(admission.waiting).toBe(99);
  });

  it("takes a connection that closes while waiting out of the queue", () => {
    const admission = new HandshakeAdmission(1);
    const started: string[] = [];
    const first = admission.admit("a", () => started.push("first"));
    const gone = admission.admit("a", () => started.push("gone"));
    admission.admit("a", () => started.push("third"));
    gone();
    expect(admission.waiting).toBe(1);
    first();
    expect(started).toEqual(["first", "third"]);
    expect(admission.waiting).toBe(0);
  });

  it("copes with a turn that ends while it starts", () => {
    const admission = new HandshakeAdmission(1);
    const started: string[] = [];
    const first = admission.admit("a", () => started.push("first"));
    let second: () => void = () => {};
    second = admission.admit("a", () => {
      started.push("second");
      second(); // the connection was already closed
    });
    admission.admit("a", () => started.push("third"));
    first();
    expect(started).toEqual(["first", "second", "third"]);
    expect(admission.waiting).toBe(0);
  });

  it("refuses a limit below one", () => {
    expect(() => new HandshakeAdmission(0)).toThrow(RangeError);
  });
});
