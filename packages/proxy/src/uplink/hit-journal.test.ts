import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type Hit, sourceFromUserAgent } from "@apisnoop/protocol";
import { describe, expect, it } from "vitest";
import { HitJournal } from "./hit-journal";

describe("HitJournal", () => {
  it("gives back what a killed run appended, skipping a torn last line; empty after reset", () => {
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
    journal.close();
    fs.appendFileSync(file, '[3,"GET","x"');
    const again = HitJournal.open(file);
    expect(again.replayed).toEqual(hits);
    again.journal.reset();
    again.journal.append(hits[0] as Hit);
    again.journal.close();
    expect(HitJournal.open(file).replayed).toEqual([hits[0]]);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it("replays only the hits past the mark the spool holds for its generation, and appends after them", () => {
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
    first.close();
    const spooled = (generation: string) => (generation === mark.generation ? mark.bytes : 0);
    const reopened = HitJournal.open(file, spooled);
    expect(reopened.replayed.map((h) => h.at)).toEqual([3]);
    // A source first seen after reopening gets an index of its own, not one the file already used.
    reopened.journal.append(hit(4, "c"));
    reopened.journal.close();
    const all = HitJournal.open(file).replayed;
    expect(all.map((h) => [h.at, h.source.userAgent])).toEqual([
      [1, "a"],
      [2, "a"],
      [3, "b"],
      [4, "c"],
    ]);
    expect(HitJournal.open(file, () => 0).replayed).toHaveLength(4);
  });
});
