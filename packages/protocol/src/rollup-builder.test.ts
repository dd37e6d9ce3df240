import { describe, expect, it } from "vitest";
import type { Hit } from "./hit";
import { decodeIngestBatch } from "./ingest";
import { RollupBuilder } from "./rollup-builder";
import { sourceFromUserAgent } from "./source";

const kubectl = sourceFromUserAgent("kubectl/v1.32.4");
const operator = sourceFromUserAgent("operator/1.0", "my-operator");
const at = Date.UTC(2026, 10, 28, 12, 0, 30);

function hit(overrides: Partial<Hit>): Hit {
  return {
    at,
    method: "GET",
    operationId: "listCoreV1NamespacedPod",
    path: "/api/v1/namespaces/a/pods",
    status: 200,
    source: kubectl,
    ...overrides,
  };
}

describe("RollupBuilder", () => {
  it("folds hits by endpoint, source, status class and minute", () => {
    const builder = new RollupBuilder("proxy-a", "1.34");
    for (let i = 0; i < 1000; i++) builder.add(hit({ details: i % 10 === 0 ? ["watch"] : [] }));
    builder.add(hit({ status: 404 }));
    builder.add(hit({ source: operator }));
    builder.add(hit({ at: at + 60_000 }));
    builder.add(
      hit({
        operationId: null,
        reason: "group not served by this spec",
        path: "/apis/x.io/v1/ys",
        status: 404,
      }),
    );
    builder.add(
      hit({
        operationId: null,
        reason: "group not served by this spec",
        path: "/apis/x.io/v1/ys",
        status: 404,
      }),
    );
    expect(builder.pendingHits).toBe(1005);
    expect(builder.keyCount).toBe(5);
    const batch = builder.drain(at);
    expect(batch).not.toBeNull();
    expect(decodeIngestBatch(JSON.parse(JSON.stringify(batch)))).toMatchObject({ ok: true });
    expect(batch?.sources).toEqual([kubectl, operator]);
    expect(batch?.hits).toContainEqual({
      source: 0,
      operationId: "listCoreV1NamespacedPod",
      method: "GET",
      statusClass: "2xx",
      minute: Math.floor(at / 60_000),
      count: 1000,
      details: { watch: 100 },
    });
    const total =
      (batch?.hits ?? []).reduce((sum, row) => sum + row.count, 0) +
      (batch?.unknownCalls ?? []).reduce((s, r) => s + r.count, 0);
    expect(total).toBe(1005);
    expect(batch?.unknownCalls).toEqual([
      expect.objectContaining({
        count: 2,
        reason: "group not served by this spec",
        statusClass: "4xx",
        path: "/apis/x.io/v1/ys",
      }),
    ]);
    expect(builder.drain()).toBeNull();
    expect(builder.keyCount).toBe(0);
  });

  it("counts field paths per hour and direction, unknown ones flagged", () => {
    const builder = new RollupBuilder("proxy-a", "1.34");
    const requestFields = {
      fields: ["io.k8s.api.core.v1.ConfigMap:data"],
      unknown: ["io.k8s.api.core.v1.ConfigMap:dta"],
    };
    builder.add(
      hit({ method: "POST", operationId: "createCoreV1NamespacedConfigMap", status: 201, requestFields }),
    );
    builder.add(
      hit({ method: "POST", operationId: "createCoreV1NamespacedConfigMap", status: 201, requestFields }),
    );
    const batch = builder.drain();
    expect(batch?.fields).toEqual([
      expect.objectContaining({
        direction: "request",
        field: "io.k8s.api.core.v1.ConfigMap:data",
        unknown: false,
        count: 2,
      }),
      expect.objectContaining({
        direction: "request",
        field: "io.k8s.api.core.v1.ConfigMap:dta",
        unknown: true,
        count: 2,
      }),
    ]);
  });
});
