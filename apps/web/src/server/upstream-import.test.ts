import { type IngestBatch, PROTOCOL_VERSION } from "@apisnoop/protocol";
import { describe, expect, it } from "vitest";
import { UpstreamImporter } from "./upstream-import";

const batch = (release: string): IngestBatch => ({
  protocol: PROTOCOL_VERSION,
  batchId: `batch-${release}`,
  proxyId: "upstream-e2e",
  release,
  sentAt: 0,
  sources: [],
  hits: [],
  unknownCalls: [],
  fields: [],
});
const counts = { endpoints: 591, tests: 1387 };

describe("UpstreamImporter", () => {
  it("imports one release after the other in the background, saying what it did", async () => {
    const stored: string[] = [];
    const seen = new Set(["batch-1.35"]); // imported by an earlier start
    const lines: string[] = [];
    const importer = new UpstreamImporter(
      async (b) => {
        stored.push(b.release as string);
        const duplicate = seen.has(b.batchId);
        seen.add(b.batchId);
        return { duplicate };
      },
      (line) => lines.push(line),
    );
    importer.add("1.36", batch("1.36"), counts);
    importer.add("1.35", batch("1.35"), counts);
    importer.add("1.36", batch("1.36"), counts); // queued once
    // Nothing runs in the caller's turn: the server answers before the first import starts.
    expect(importer.states().map((s) => s.state)).toEqual(["waiting", "waiting"]);
    expect(stored).toEqual([]);
    await importer.idle();
    expect(stored).toEqual(["1.36", "1.35"]);
    expect(importer.states().map((s) => [s.release, s.state])).toEqual([
      ["1.36", "imported"],
      ["1.35", "already imported"],
    ]);
    expect(lines[0]).toBe(
      "upstream e2e: importing apisnoop's published coverage of 1.36 (591 endpoints, 1,387 tests) in the background…",
    );
    expect(lines).toContain("upstream e2e: 1.35 was imported before");
    expect(lines.some((line) => /^upstream e2e: 1\.36 imported in \d+\.\d s$/.test(line))).toBe(true);
  });

  it("reports a failed import and goes on with the next", async () => {
    const lines: string[] = [];
    const importer = new UpstreamImporter(
      async (b) => {
        if (b.release === "1.36") throw new Error("connection lost\nstack…");
        return { duplicate: false };
      },
      (line) => lines.push(line),
    );
    importer.add("1.36", batch("1.36"), counts);
    importer.add("1.35", batch("1.35"), counts);
    await importer.idle();
    expect(importer.states().map((s) => [s.release, s.state, s.error])).toEqual([
      ["1.36", "failed", "connection lost"],
      ["1.35", "imported", null],
    ]);
    expect(lines).toContain("upstream e2e: 1.36 not imported: connection lost");
  });

  it("starts nothing more once stopped, and waits for the import under way", async () => {
    let release!: () => void;
    const importer = new UpstreamImporter(
      (b) =>
        b.release === "1.36"
          ? new Promise((resolve) => {
              release = () => resolve({ duplicate: false });
            })
          : Promise.resolve({ duplicate: false }),
      () => {},
    );
    importer.add("1.36", batch("1.36"), counts);
    importer.add("1.35", batch("1.35"), counts);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const stopped = importer.stop();
    release();
    await stopped;
    expect(importer.states().map((s) => [s.release, s.state])).toEqual([
      ["1.36", "imported"],
      ["1.35", "failed"],
    ]);
  });
});
