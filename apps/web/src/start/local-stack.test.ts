import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { localSpoolDir } from "./local-stack";

describe("localSpoolDir", () => {
  let workDir: string;
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  it("keeps the proxy's spool under .apisnoop/, beside the embedded database", () => {
    workDir = mkdtempSync(path.join(tmpdir(), "apisnoop-spool-"));
    const lines: string[] = [];
    expect(localSpoolDir(workDir, (line) => lines.push(line))).toBe(path.join(workDir, ".apisnoop", "spool"));
    expect(existsSync(path.join(workDir, ".apisnoop"))).toBe(true);
    expect(lines).toEqual([]);
  });

  it("moves a spool/ an earlier version left at the top, batches and all", () => {
    workDir = mkdtempSync(path.join(tmpdir(), "apisnoop-spool-"));
    mkdirSync(path.join(workDir, "spool", "batches"), { recursive: true });
    writeFileSync(path.join(workDir, "spool", "batches", "000001.json"), "unacknowledged");
    const lines: string[] = [];
    const spool = localSpoolDir(workDir, (line) => lines.push(line));
    expect(readFileSync(path.join(spool, "batches", "000001.json"), "utf8")).toBe("unacknowledged");
    expect(existsSync(path.join(workDir, "spool"))).toBe(false);
    expect(lines).toEqual([`moved the proxy's spool from ${path.join(workDir, "spool")} to ${spool}`]);
  });
});
