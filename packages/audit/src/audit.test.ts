import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { compileMatcher } from "@apisnoop/openapi";
import { SHARED_K8S, sharedCatalog } from "@apisnoop/openapi/testing";
import { describe, expect, it } from "vitest";
import { auditEventToHit } from "./audit-event";
import { type LogRecord, openLog, readJsonObjects } from "./json-objects";

const matcher = compileMatcher(sharedCatalog("1.34"));
const sample = (name: string) => path.join(SHARED_K8S, "audit-samples", name);

async function records(input: Readable, maxRecordBytes?: number): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const record of readJsonObjects(input, maxRecordBytes ? { maxRecordBytes } : {}))
    out.push(record);
  return out;
}

async function outcomes(file: string) {
  return (await records(openLog(file))).map((r) => ("value" in r ? auditEventToHit(r.value, matcher) : r));
}

describe("apisnoop's audit samples", () => {
  it("reads the pretty-printed valid event as a hit on readCoreV1Node", async () => {
    expect(await outcomes(sample("audit_event.json"))).toEqual([
      {
        kind: "hit",
        hit: expect.objectContaining({
          method: "GET",
          operationId: "readCoreV1Node",
          path: "/api/v1/nodes/bootstrap-e2e-minion-group-9s5q",
          status: 403,
          at: Date.parse("2022-02-03T19:34:21.841091Z"),
          source: expect.objectContaining({ userAgent: "node-problem-detector/v0.8.9", e2eTest: null }),
        }),
      },
    ]);
  });

  it("reports an unknown verb as malformed", async () => {
    expect(await outcomes(sample("audit_event_bad_verb.json"))).toEqual([
      { kind: "malformed", error: "unknown verb 'calebiscool'" },
    ]);
    expect(await outcomes(sample("bad_audit_event.json"))).toEqual([
      { kind: "malformed", error: "unknown verb 'calebiscool'" },
    ]);
  });

  it("counts requests to paths the spec does not have as unknown calls", async () => {
    const [dummy] = await outcomes(sample("audit_event_dummy_request.json"));
    expect(dummy).toMatchObject({ kind: "hit", hit: { operationId: null, reason: "no such path" } });
    const [long] = await outcomes(sample("audit_event_part_count_too_high.json"));
    expect(long).toMatchObject({ kind: "hit", hit: { operationId: null, reason: "no such path" } });
  });
});

describe("readJsonObjects", () => {
  it("reads JSON lines and reports broken lines by number without stopping", async () => {
    const event = (verb: string, uri: string, stage = "ResponseComplete") =>
      JSON.stringify({
        kind: "Event",
        apiVersion: "audit.k8s.io/v1",
        stage,
        verb,
        requestURI: uri,
        userAgent: "e2e.test/v1.34.4 -- [sig-node] ConfigMap should update [Conformance]",
        stageTimestamp: "2026-11-28T12:00:00Z",
        responseStatus: { code: 200 },
      });
    const text = [
      event("watch", "/api/v1/namespaces/a/configmaps?watch=true"),
      '{"kind": "Event", "truncated',
      "",
      event("create", "/api/v1/namespaces/a/configmaps?dryRun=All"),
      "not json at all",
      event("get", "/api/v1/namespaces/a/configmaps/x", "RequestReceived"),
      "{ broken }",
    ].join("\n");
    const dir = await mkdtemp(path.join(tmpdir(), "apisnoop-audit-"));
    const file = path.join(dir, "audit.log.gz");
    await writeFile(file, gzipSync(text));
    const read = await records(openLog(file));
    expect(read.map((r) => ("error" in r ? `${r.line}: ${r.error}` : `${r.line}: ok`))).toEqual([
      "1: ok",
      "2: truncated JSON object",
      "4: ok",
      "5: not a JSON object",
      "6: ok",
      expect.stringMatching(/^7: invalid JSON/),
    ]);
    const hits = read.flatMap((r) => ("value" in r ? [auditEventToHit(r.value, matcher)] : []));
    expect(hits).toEqual([
      {
        kind: "hit",
        hit: expect.objectContaining({
          operationId: "listCoreV1NamespacedConfigMap",
          details: ["watch"],
          path: "/api/v1/namespaces/a/configmaps",
          source: expect.objectContaining({
            e2eTest: "[sig-node] ConfigMap should update [Conformance]",
            conformance: true,
          }),
        }),
      },
      {
        kind: "hit",
        hit: expect.objectContaining({ operationId: "createCoreV1NamespacedConfigMap", details: ["dryRun"] }),
      },
      { kind: "skipped" },
    ]);
  });

  const summary = (read: LogRecord[]) =>
    read.map((r) => ("error" in r ? `${r.line}: ${r.error}` : `${r.line}: ${JSON.stringify(r.value)}`));

  it("recovers after a stray `{` without swallowing the events that follow", async () => {
    const pretty = JSON.stringify({ kind: "Event", n: 3, nested: { a: [{ b: 1 }] } }, null, 2);
    const samplesStyle = ` ${JSON.stringify({ kind: "Event", n: 4, user: { name: "x" } }, null, 2).replaceAll("\n", "\n ")}`;
    const text = ['{"n":1}', "{", '{"n":2}', "{", pretty, "{", samplesStyle, '{"n":5}'].join("\n");
    expect(summary(await records(Readable.from([text])))).toEqual([
      '1: {"n":1}',
      "2: unterminated JSON object",
      '3: {"n":2}',
      "4: unterminated JSON object",
      '5: {"kind":"Event","n":3,"nested":{"a":[{"b":1}]}}',
      "16: unterminated JSON object",
      '17: {"kind":"Event","n":4,"user":{"name":"x"}}',
      '24: {"n":5}',
    ]);
  });

  it("ends an object left open where the next record starts, and says where it began", async () => {
    const text = ["{", '  "kind": "Event",', '  "torn": {', '{"n":1}', "{", '  "n": 2', "}"].join("\r\n");
    expect(summary(await records(Readable.from([text])))).toEqual([
      "1: unterminated JSON object",
      '4: {"n":1}',
      '5: {"n":2}',
    ]);
  });

  it("skips a line or an object longer than the limit without holding it, and reads on", async () => {
    const long = `{"pad":"${"x".repeat(5000)}"}`;
    const pretty = `{\n  "pad": "${"y".repeat(5000)}"\n}`;
    // Delivered in small chunks, as a file stream would, so the long line never arrives whole.
    const text = ['{"n":1}', long, '{"n":2}', pretty, '{"n":3}', "x".repeat(9000)].join("\n");
    const chunks = text.match(/[\s\S]{1,700}/g) ?? [];
    const read = await records(Readable.from(chunks.map((chunk) => Buffer.from(chunk))), 4096);
    expect(summary(read)).toEqual([
      '1: {"n":1}',
      "2: line longer than 4096 bytes, skipped",
      '3: {"n":2}',
      "4: JSON object longer than 4096 bytes, skipped",
      '7: {"n":3}',
      "8: line longer than 4096 bytes, skipped",
    ]);
    const big = [
      "{",
      ...Array.from({ length: 200 }, (_, i) => `  "k${i}": "${"z".repeat(40)}",`),
      '  "end": 1',
      "}",
    ];
    expect(summary(await records(Readable.from([[...big, '{"n":4}'].join("\n")]), 4096))).toEqual([
      "1: JSON object longer than 4096 bytes, skipped",
      '204: {"n":4}',
    ]);
  });

  it("reports an object left open at the end of the input", async () => {
    expect(await records(Readable.from(['{\n  "a": 1,\n']))).toEqual([
      { line: 1, error: "unterminated JSON object at end of file" },
    ]);
  });
});
