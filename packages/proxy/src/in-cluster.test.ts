import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TokenFile } from "./in-cluster";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-in-cluster-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("TokenFile", () => {
  it("reads a rotated token again once the one in hand is a minute old, as client-go", () => {
    const file = path.join(dir, "token");
    writeFileSync(file, "first-token\n");
    let now = 1_000_000;
    const token = new TokenFile(file, 60_000, () => now);
    expect(token.current()).toBe("first-token");
    writeFileSync(file, "second-token");
    now += 59_999;
    expect(token.current()).toBe("first-token");
    now += 1;
    expect(token.current()).toBe("second-token");
  });

  it("keeps the token in hand when a re-read fails, and reads again on the next call", () => {
    const file = path.join(dir, "rotating");
    writeFileSync(file, "kept-token");
    let now = 0;
    const token = new TokenFile(file, 1000, () => now);
    expect(token.current()).toBe("kept-token");
    unlinkSync(file);
    now = 5000;
    expect(token.current()).toBe("kept-token");
    writeFileSync(file, "");
    expect(token.current()).toBe("kept-token");
    writeFileSync(file, "new-token");
    expect(token.current()).toBe("new-token");
  });

  it("fails in one line, without a token, when the first read fails", () => {
    const missing = new TokenFile(path.join(dir, "missing"));
    expect(() => missing.current()).toThrow(/^cannot read the token file .*missing: ENOENT/);
    const emptyFile = path.join(dir, "empty");
    writeFileSync(emptyFile, " \n");
    expect(() => new TokenFile(emptyFile).current()).toThrow(
      /^cannot read the token file .*empty: it is empty$/,
    );
  });
});
