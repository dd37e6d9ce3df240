import { describe, expect, it } from "vitest";
import { InvalidBatchError, NotFoundError } from "./errors";

describe("the storage layer's errors", () => {
  it("are told apart by type, even when thrown by another copy of the module (Next bundles its own)", async () => {
    const copy = (await import(
      /* @vite-ignore */ `./errors.ts?copy=${Date.now()}`
    )) as typeof import("./errors");
    expect(copy.NotFoundError).not.toBe(NotFoundError);
    const missing = new copy.NotFoundError("release", "release 1.99 is not loaded");
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing).not.toBeInstanceOf(InvalidBatchError);
    expect(new copy.InvalidBatchError("minute past year 9999")).toBeInstanceOf(InvalidBatchError);
    // A name is no type: an error that merely calls itself so is not one.
    const impostor = Object.assign(new Error("x"), { name: "NotFoundError" });
    expect(impostor).not.toBeInstanceOf(NotFoundError);
    expect((missing as NotFoundError).missing).toBe("release");
  });
});
