import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { HitLine } from "@apisnoop/protocol";
import { describe, expect, it } from "vitest";
import { HitsFile } from "./hits-file";

const hit = (n: number): HitLine => ({
  ts: "2026-01-01T00:00:00.000Z",
  method: "GET",
  path: `/api/v1/namespaces/n${n}`,
  query: "",
  status: 200,
  durationMs: 1,
  operationId: "readCoreV1Namespace",
  userAgent: null,
});

describe("HitsFile", () => {
  it("appends one JSON line per hit, batched, and drops hits after close", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "apisnoop-hits-")), "hits.jsonl");
    const hits = new HitsFile(file);
    for (let i = 0; i < 3; i++) hits.write(hit(i));
    await new Promise((resolve) => setTimeout(resolve, 80));
    hits.write(hit(3));
    await hits.close();
    hits.write(hit(4));
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(lines.map((line) => (JSON.parse(line) as HitLine).path)).toEqual(
      [0, 1, 2, 3].map((n) => `/api/v1/namespaces/n${n}`),
    );
  });

  it("reports an unwritable file instead of crashing the proxy", async () => {
    const errors: string[] = [];
    const hits = new HitsFile("/nonexistent-dir/hits.jsonl", (error) =>
      errors.push((error as NodeJS.ErrnoException).code ?? ""),
    );
    hits.write(hit(0));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(errors).toEqual(["ENOENT"]);
    await hits.close();
  });

  it("keeps the file readable by its owner only, also one an older run left world-readable", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-hits-"));
    const fresh = path.join(dir, "fresh.jsonl");
    const old = path.join(dir, "old.jsonl");
    writeFileSync(old, "");
    chmodSync(old, 0o644);
    for (const file of [fresh, old]) {
      const hits = new HitsFile(file);
      hits.write(hit(0));
      await hits.close();
      expect(statSync(file).mode & 0o777, file).toBe(0o600);
    }
  });
});
