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

async function records(input: Readable): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const record of readJsonObjects(input)) out.push(record);
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

  it("reports an object left open at the end of the input", async () => {
    expect(await records(Readable.from(['{\n  "a": 1,\n']))).toEqual([
      { line: 1, error: "unterminated JSON object at end of file" },
    ]);
  });
});
