/**
 * Fuzzing of the importers: files of valid records (proxy hits lines, audit events) interleaved with
 * garbage (random bytes, torn and stray `{` records, non-objects, NULs and over-long names the ingest schema
 * refuses, retyped fields, an over-long line). Every garbage line is reported once, by its line number, in
 * one short line; every valid record is counted, in batches the ingest schema takes. The seed is printed;
 * `FUZZ_SEED=<n>` replays a run.
 */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { compileMatcher } from "@apisnoop/openapi";
import { SeededChoices, sharedCatalog } from "@apisnoop/openapi/testing";
import { decodeIngestBatch, type IngestBatch } from "@apisnoop/protocol";
import { describe, expect, it } from "vitest";
import { type AuditImportOptions, importAuditLogs, importHitFiles } from "./import-audit";
import { MAX_RECORD_BYTES } from "./json-objects";

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const LINES = 20_000;

const PATHS = [
  "/api/v1/namespaces/default/configmaps",
  "/api/v1/namespaces/a/pods/p",
  "/apis/apps/v1/deployments",
  "/apis/x.example/v1/widgets",
  "/healthz",
  "/api/v1/nodes/n1/status",
];
const AGENTS = ["kubectl/v1.34.0", "e2e.test/v1.34 -- [sig-node] Pods [Conformance]", "operator/1.0", "💥"];

class ImportFuzzer extends SeededChoices {
  hitLine(): Record<string, unknown> {
    return {
      ts: new Date(Date.UTC(2026, 10, 1) + this.int(86_400_000)).toISOString(),
      method: this.pick(["GET", "POST", "PUT", "PATCH", "DELETE"]),
      path: this.pick(PATHS),
      query: this.pick(["", "watch=true", "limit=500"]),
      status: this.pick([200, 201, 404, 500, 0]),
      durationMs: this.int(100),
      operationId: null,
      userAgent: this.pick(AGENTS),
      ...(this.random() < 0.2 ? { details: ["dryRun"] } : {}),
    };
  }

  auditEvent(): Record<string, unknown> {
    return {
      kind: "Event",
      apiVersion: "audit.k8s.io/v1",
      level: "Metadata",
      stage: "ResponseComplete",
      auditID: `00000000-0000-4000-8000-${String(this.int(1e12)).padStart(12, "0")}`,
      verb: this.pick(["get", "list", "create", "update", "patch", "delete", "watch"]),
      requestURI: this.pick(PATHS),
      userAgent: this.pick(AGENTS),
      responseStatus: { code: this.pick([200, 201, 404, 500]) },
      stageTimestamp: new Date(Date.UTC(2026, 10, 1) + this.int(86_400_000)).toISOString(),
    };
  }

  /**
   * A line that is not a valid record, never blank and never a bare `{` (which opens a pretty-printed
   * object: the caller places those before a valid record only, the stray-`{` case).
   */
  garbage(valid: Record<string, unknown>): string {
    const json = JSON.stringify(valid);
    const kind = this.int(10);
    if (kind === 0) {
      // Random bytes without a newline, as a torn binary write leaves them.
      const bytes = Buffer.from(Array.from({ length: 1 + this.int(200) }, () => this.int(256)));
      const text = bytes.toString("latin1").replace(/[\n\r]/g, "x");
      return text.trim() === "" || text.trim() === "{" ? `#${text}` : text;
    }
    // Torn, at least two characters: torn after one it is a bare `{`, which opens a multi-line object.
    if (kind === 1) return json.slice(0, 2 + this.int(json.length - 3));
    if (kind === 2) return this.pick(["[1,2]", "42", '"text"', "null", "}", "not json at all"]);
    if (kind === 3) return JSON.stringify({ ...valid, userAgent: `nul\u0000agent` });
    if (kind === 4) return JSON.stringify({ ...valid, method: "M".repeat(40), verb: "v".repeat(40) });
    if (kind === 5) return JSON.stringify({ ...valid, ts: 5, stageTimestamp: "never", requestURI: 7 });
    if (kind === 6) return `${json.slice(0, -1)},}`;
    if (kind === 7) return JSON.stringify({ unrelated: true, nested: { deep: [1, { a: null }] } });
    if (kind === 8) return JSON.stringify({ ...valid, userAgent: "u".repeat(600) }).replace("u", "\u0000");
    return `  ${json.slice(0, -1)}`; // an indented object that never closes on its line
  }
}

/** Writes a file of `LINES` lines, returning its path, the garbage line numbers and the valid records. */
async function fuzzFile(fuzz: ImportFuzzer, valid: () => Record<string, unknown>, overLong: boolean) {
  const lines: string[] = [];
  const garbage = new Set<number>();
  let records = 0;
  while (lines.length < LINES) {
    const roll = fuzz.random();
    if (roll < 0.7) {
      lines.push(JSON.stringify(valid()));
      records++;
    } else if (roll < 0.72) {
      // A stray `{` (a record torn right after its first line), then a valid record that must be read.
      lines.push(fuzz.pick(["{", "  {", "{ "]));
      garbage.add(lines.length);
      lines.push(JSON.stringify(valid()));
      records++;
    } else {
      lines.push(fuzz.garbage(valid()));
      garbage.add(lines.length);
    }
  }
  if (overLong) {
    lines.push(`{"userAgent":"${"x".repeat(MAX_RECORD_BYTES)}"}`);
    garbage.add(lines.length);
    lines.push(JSON.stringify(valid()));
    records++;
  }
  const file = path.join(await mkdtemp(path.join(tmpdir(), "apisnoop-import-fuzz-")), "input.log");
  await writeFile(file, `${lines.join("\n")}\n`);
  return { file, garbage, records };
}

type Importer = (files: string[], options: AuditImportOptions) => ReturnType<typeof importAuditLogs>;

async function check(importer: Importer, valid: (fuzz: ImportFuzzer) => Record<string, unknown>) {
  const fuzz = new ImportFuzzer(SEED);
  const { file, garbage, records } = await fuzzFile(fuzz, () => valid(fuzz), true);
  const batches: IngestBatch[] = [];
  const summary = await importer([file], {
    matcher: compileMatcher(sharedCatalog("1.34")),
    release: "1.34",
    maxKeys: 2_000,
    maxMalformedListed: Number.POSITIVE_INFINITY,
    onBatch: async (batch) => {
      // The batches are what the web app's ingest takes: the same schema, checked here.
      const decoded = decodeIngestBatch(JSON.parse(JSON.stringify(batch)));
      if (!decoded.ok) throw new Error(decoded.error);
      batches.push(batch);
    },
  });
  const reported = summary.malformed.map((bad) => bad.line);
  expect(new Set(reported).size).toBe(reported.length);
  expect(reported.filter((line) => !garbage.has(line))).toEqual([]);
  expect([...garbage].filter((line) => !reported.includes(line))).toEqual([]);
  for (const bad of summary.malformed) {
    expect(bad.error).not.toMatch(/[\n\r]/);
    expect(bad.error.length).toBeLessThan(300);
  }
  const counted = batches.reduce(
    (sum, batch) =>
      sum +
      batch.hits.reduce((n, row) => n + row.count, 0) +
      batch.unknownCalls.reduce((n, row) => n + row.count, 0),
    0,
  );
  expect(counted).toBe(records);
  return { summary, garbage: garbage.size, records, batches: batches.length };
}

describe(`importer fuzz (seed ${SEED}; FUZZ_SEED=${SEED} replays it)`, () => {
  it(`hits files: ${LINES.toLocaleString("en-US")} lines, each garbage one reported by its line, every record counted`, async () => {
    const result = await check(importHitFiles, (fuzz) => fuzz.hitLine());
    console.log(
      `import.fuzz hits: seed ${SEED}, ${result.records} records counted, ${result.garbage} garbage lines reported, ${result.batches} batches`,
    );
  }, 180_000);

  it(`audit logs: ${LINES.toLocaleString("en-US")} lines, each garbage one reported by its line, every event counted`, async () => {
    const result = await check(importAuditLogs, (fuzz) => fuzz.auditEvent());
    console.log(
      `import.fuzz audit: seed ${SEED}, ${result.records} events counted, ${result.garbage} garbage lines reported, ${result.batches} batches`,
    );
  }, 180_000);
});
