import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { compileMatcher } from "@apisnoop/openapi";
import { SHARED_K8S, sharedCatalog } from "@apisnoop/openapi/testing";
import type { IngestBatch } from "@apisnoop/protocol";
import { describe, expect, it } from "vitest";
import { importAuditLogs, importHitFiles } from "./import-audit";

describe("importAuditLogs", () => {
  it("imports every shared sample: valid events counted, malformed ones listed with file and line", async () => {
    const samples = [
      "audit_event.json",
      "audit_event_bad_verb.json",
      "audit_event_dummy_request.json",
      "audit_event_part_count_too_high.json",
      "bad_audit_event.json",
    ].map((name) => path.join(SHARED_K8S, "audit-samples", name));
    const batches: IngestBatch[] = [];
    const summary = await importAuditLogs(samples, {
      matcher: compileMatcher(sharedCatalog("1.34")),
      release: "1.34",
      onBatch: async (batch) => {
        batches.push(batch);
      },
    });
    expect(summary).toMatchObject({
      events: 5,
      hits: 1,
      unknownCalls: 2,
      outsideSpec: 0,
      skipped: 0,
      malformedCount: 2,
      // One per file with records: a file's batches hold its records only (content-derived ids).
      batches: 3,
    });
    expect(summary.malformed).toEqual([
      { file: samples[1], line: 1, error: "unknown verb 'calebiscool'" },
      { file: samples[4], line: 1, error: "unknown verb 'calebiscool'" },
    ]);
    expect(batches.flatMap((batch) => batch.hits)).toEqual([
      expect.objectContaining({ operationId: "readCoreV1Node", statusClass: "4xx", count: 1 }),
    ]);
    expect(batches.flatMap((batch) => batch.unknownCalls).map((c) => c.reason)).toEqual([
      "no such path",
      "no such path",
    ]);
  });

  it("ships batches as distinct keys pile up, losing no event", async () => {
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) {
      lines.push(
        JSON.stringify({
          kind: "Event",
          apiVersion: "audit.k8s.io/v1",
          stage: "ResponseComplete",
          verb: "get",
          requestURI: `/api/v1/namespaces/ns-${i % 50}/pods/p-${i}`,
          userAgent: `client-${i % 300}`,
          stageTimestamp: new Date(Date.UTC(2026, 10, 28) + i * 1000).toISOString(),
          responseStatus: { code: 200 },
        }),
      );
    }
    const file = path.join(await mkdtemp(path.join(tmpdir(), "apisnoop-audit-")), "audit.log");
    await writeFile(file, `${lines.join("\n")}\n`);
    let counted = 0;
    const summary = await importAuditLogs([file], {
      matcher: compileMatcher(sharedCatalog("1.34")),
      release: "1.34",
      maxKeys: 500,
      onBatch: async (batch) => {
        counted += batch.hits.reduce((sum, row) => sum + row.count, 0);
      },
    });
    expect(summary.batches).toBeGreaterThan(5);
    expect(counted).toBe(5000);
  });
});

describe("importHitFiles", () => {
  it("re-matches the proxy's hits lines and keeps the e2e test from the user agent", async () => {
    const lines = [
      {
        ts: "2026-11-28T17:53:55.713Z",
        method: "GET",
        path: "/api/v1/namespaces/a/pods",
        query: "watch=true",
        status: 200,
        durationMs: 3,
        operationId: "x",
        userAgent: "e2e.test/v1.34.4 -- [sig-node] Pods should list [Conformance]",
        source: { namespace: "e2e-pods-1234", pod: "runner" },
        details: ["watch"],
        responseFields: { fields: ["io.k8s.api.core.v1.Pod:spec"], unknown: ["io.k8s.api.core.v1.Pod:spex"] },
      },
      {
        ts: "2026-11-28T17:53:56.000Z",
        method: "POST",
        path: "/apis/x.io/v1/widgets",
        query: "",
        status: 404,
        durationMs: 1,
        operationId: null,
        userAgent: "kubectl",
      },
      { ts: "bad", method: "GET", path: "/api" },
    ];
    const file = path.join(await mkdtemp(path.join(tmpdir(), "apisnoop-hits-")), "hits.jsonl");
    await writeFile(file, `${lines.map((l) => JSON.stringify(l)).join("\n")}\n`);
    const batches: IngestBatch[] = [];
    const summary = await importHitFiles([file], {
      matcher: compileMatcher(sharedCatalog("1.34")),
      release: "1.34",
      onBatch: async (batch) => {
        batches.push(batch);
      },
    });
    expect(summary).toMatchObject({ events: 3, hits: 1, unknownCalls: 1, malformedCount: 1 });
    expect(summary.malformed).toEqual([{ file, line: 3, error: "no ts" }]);
    expect(batches[0]?.hits).toEqual([
      expect.objectContaining({ operationId: "listCoreV1NamespacedPod", details: { watch: 1 } }),
    ]);
    expect(batches[0]?.sources[0]).toMatchObject({
      e2eTest: "[sig-node] Pods should list [Conformance]",
      conformance: true,
      namespace: "e2e-pods-1234",
      pod: "runner",
    });
    // The line's field paths land as field counts of the re-matched endpoint.
    expect(batches[0]?.fields.map((f) => [f.operationId, f.direction, f.field, f.unknown])).toEqual([
      ["listCoreV1NamespacedPod", "response", "io.k8s.api.core.v1.Pod:spec", false],
      ["listCoreV1NamespacedPod", "response", "io.k8s.api.core.v1.Pod:spex", true],
    ]);
  });
});
