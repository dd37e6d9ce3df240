import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type Hit, sourceFromUserAgent } from "@apisnoop/protocol";
import { describe, expect, it } from "vitest";
import { smallDisk } from "../testing";
import { HitJournal, type JournalStop } from "./hit-journal";

const hitAt = (at: number, userAgent = "kubectl/v1.34.0"): Hit => ({
  at,
  method: "GET",
  operationId: "listCoreV1Namespace",
  path: "/api/v1/namespaces",
  status: 200,
  source: sourceFromUserAgent(userAgent, null),
  details: [],
});

const tempJournal = () => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "journal-")), "hits.journal");

describe("HitJournal", () => {
  it("gives back what a killed run appended, skipping a torn last line; empty after reset", async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "journal-")), "hits.journal");
    const source = sourceFromUserAgent("kubectl/v1.34.0", "team-a");
    const hits: Hit[] = [
      {
        at: 1,
        method: "GET",
        operationId: "listCoreV1Namespace",
        path: "/api/v1/namespaces",
        status: 200,
        source,
        details: ["watch"],
      },
      {
        at: 2,
        method: "GET",
        operationId: null,
        reason: "no such path",
        path: "/nope",
        status: 404,
        source,
        details: [],
      },
    ];
    const { journal, replayed } = HitJournal.open(file);
    expect(replayed).toEqual([]);
    for (const hit of hits) journal.append(hit);
    await journal.close();
    fs.appendFileSync(file, '[3,"GET","x"');
    const again = HitJournal.open(file);
    expect(again.replayed).toEqual(hits);
    again.journal.reset();
    again.journal.append(hits[0] as Hit);
    await again.journal.close();
    expect(HitJournal.open(file).replayed).toEqual([hits[0]]);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it("replays only the hits past the mark the spool holds for its generation, and appends after them", async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "journal-")), "hits.journal");
    const hit = (at: number, userAgent: string): Hit => ({
      at,
      method: "GET",
      operationId: "listCoreV1Namespace",
      path: "/api/v1/namespaces",
      status: 200,
      source: sourceFromUserAgent(userAgent, null),
      details: [],
    });
    const first = HitJournal.open(file).journal;
    first.append(hit(1, "a"));
    first.append(hit(2, "a"));
    const mark = first.mark();
    first.append(hit(3, "b"));
    await first.close();
    const spooled = (generation: string) => (generation === mark.generation ? mark.bytes : 0);
    const reopened = HitJournal.open(file, spooled);
    expect(reopened.replayed.map((h) => h.at)).toEqual([3]);
    // A source first seen after reopening gets an index of its own, not one the file already used.
    reopened.journal.append(hit(4, "c"));
    await reopened.journal.close();
    const all = HitJournal.open(file).replayed;
    expect(all.map((h) => [h.at, h.source.userAgent])).toEqual([
      [1, "a"],
      [2, "a"],
      [3, "b"],
      [4, "c"],
    ]);
    expect(HitJournal.open(file, () => 0).replayed).toHaveLength(4);
  });

  it("cuts a line torn by a crash mid-write, so the next run's hits are not glued to it and lost", async () => {
    const file = tempJournal();
    const first = HitJournal.open(file).journal;
    for (let at = 1; at <= 3; at++) first.append(hitAt(at));
    await first.close();
    // The crash: half of a fourth line reached the disk.
    const line = JSON.stringify([4, "GET", "listCoreV1Namespace", null, "/api/v1/namespaces", 200, 0, []]);
    fs.appendFileSync(file, line.slice(0, 20));
    const second = HitJournal.open(file);
    expect(second.tornBytes).toBe(20);
    expect(second.replayed.map((h) => h.at)).toEqual([1, 2, 3]);
    // No reset (nothing spooled yet): the next run appends to the same generation.
    second.journal.append(hitAt(5));
    second.journal.append(hitAt(6, "other"));
    await second.journal.close();
    const third = HitJournal.open(file);
    expect(third.tornBytes).toBe(0);
    expect(third.replayed.map((h) => [h.at, h.source.userAgent])).toEqual([
      [1, "kubectl/v1.34.0"],
      [2, "kubectl/v1.34.0"],
      [3, "kubectl/v1.34.0"],
      [5, "kubectl/v1.34.0"],
      [6, "other"],
    ]);
    await third.journal.close();
  });

  it("appends without touching the disk on the caller's turn, in order, all lines in few writes", async () => {
    const file = tempJournal();
    const { journal } = HitJournal.open(file);
    await journal.idle();
    const before = fs.statSync(file).size;
    for (let at = 1; at <= 10_000; at++) journal.append(hitAt(at));
    // At most the first line's write ran meanwhile (off the event loop); the rest waited for this turn's end.
    expect(fs.statSync(file).size - before).toBeLessThan(1000);
    expect(journal.mark().bytes - before).toBeGreaterThan(500_000);
    await journal.idle();
    expect(fs.statSync(file).size).toBe(journal.mark().bytes);
    await journal.close();
    const replayed = HitJournal.open(file).replayed.map((h) => h.at);
    expect(replayed).toEqual(Array.from({ length: 10_000 }, (_, i) => i + 1));
  });

  it("stops at its backlog bound, says so once, keeps a whole-line prefix and takes hits again after a reset", async () => {
    const file = tempJournal();
    const stops: JournalStop[] = [];
    const { journal } = HitJournal.open(file, () => 0, {
      maxBacklogBytes: 4096,
      onStop: (stop) => stops.push(stop),
    });
    for (let at = 1; at <= 1000; at++) journal.append(hitAt(at));
    expect(stops).toHaveLength(1);
    expect(journal.unjournalled).toBeGreaterThan(900);
    await journal.idle();
    const kept = fs.statSync(file).size;
    expect(journal.mark().bytes).toBe(kept);
    const reopened = HitJournal.open(`${file}`, () => 0);
    await reopened.journal.close();
    expect(reopened.tornBytes).toBe(0);
    const prefix = reopened.replayed.map((h) => h.at);
    expect(prefix).toEqual(Array.from({ length: 1000 - journal.unjournalled }, (_, i) => i + 1));
    journal.reset();
    journal.append(hitAt(2000));
    await journal.close();
    expect(HitJournal.open(file).replayed.map((h) => h.at)).toEqual([2000]);
  });

  it("on a full disk (ENOSPC) stops without a torn line, counts what it could not write, and resumes after a reset", async (context) => {
    const disk = smallDisk(64 * 1024);
    if (!disk) return context.skip("mounting a tmpfs needs root");
    try {
      const file = path.join(disk.dir, "hits.journal");
      const stops: JournalStop[] = [];
      const { journal } = HitJournal.open(file, () => 0, { onStop: (stop) => stops.push(stop) });
      for (let at = 1; at <= 10; at++) journal.append(hitAt(at));
      await journal.idle();
      disk.fill();
      let at = 10;
      while (stops.length === 0 && at < 200_000) {
        for (let i = 0; i < 100; i++) journal.append(hitAt(++at));
        await journal.idle();
      }
      expect(stops).toEqual([{ reason: expect.stringContaining("ENOSPC") }]);
      const stoppedAt = journal.unjournalled;
      journal.append(hitAt(++at));
      expect(journal.unjournalled).toBe(stoppedAt + 1);
      const content = fs.readFileSync(file, "utf8");
      expect(content.endsWith("\n")).toBe(true);
      expect(fs.statSync(file).size).toBe(journal.mark().bytes);
      disk.free();
      journal.reset();
      journal.append(hitAt(1_000_000));
      await journal.close();
      expect(HitJournal.open(file).replayed.map((h) => h.at)).toEqual([1_000_000]);
      expect(stops).toHaveLength(1);
    } finally {
      disk.unmount();
    }
  });
});
