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

  it("coarsens minutes into hours and days without losing a hit, and goes back to minutes after a drain", () => {
    const builder = new RollupBuilder("proxy-a", "1.34");
    let added = 0;
    for (let minute = 0; minute < 180; minute++) {
      for (const source of [kubectl, operator]) {
        builder.add(hit({ at: at + minute * 60_000, source, details: ["watch"] }));
        builder.add(
          hit({ at: at + minute * 60_000, source, operationId: null, reason: "no such path", path: "/x" }),
        );
        builder.addFields(
          hit({ at: at + minute * 60_000, source, requestFields: { fields: ["P:a"], unknown: [] } }),
        );
        added += 2;
      }
    }
    const rowsAtMinutes = builder.keyCount;
    expect(builder.coarsen()).toBe(true);
    expect(builder.bucketMinutes).toBe(60);
    expect(builder.keyCount).toBeLessThan(rowsAtMinutes / 10);
    expect(builder.coarsen()).toBe(true);
    expect(builder.coarsen()).toBe(false);
    expect(builder.bucketMinutes).toBe(1440);
    builder.add(hit({ at: at + 200 * 60_000 }));
    const batch = builder.drain() as NonNullable<ReturnType<RollupBuilder["drain"]>>;
    expect(decodeIngestBatch(batch).ok).toBe(true);
    const day = Math.floor(at / 86_400_000) * 1440;
    expect(batch.hits.map((row) => [row.minute, row.count, row.details])).toEqual([
      [day, 181, { watch: 180 }],
      [day, 180, { watch: 180 }],
    ]);
    expect(batch.unknownCalls.reduce((sum, row) => sum + row.count, 0) + 361).toBe(added + 1);
    expect(batch.fields.every((row) => row.hour === day / 60)).toBe(true);
    expect(batch.fields.reduce((sum, row) => sum + row.count, 0)).toBe(360);
    builder.add(hit({}));
    expect(builder.bucketMinutes).toBe(1);
    expect(builder.drain()?.hits[0]?.minute).toBe(Math.floor(at / 60_000));
  });

  it("counts into rows it holds only, when told no new rows, and says what it left out", () => {
    const builder = new RollupBuilder("proxy-a", "1.34");
    expect(builder.add(hit({}))).toBe(true);
    const rows = builder.keyCount;
    expect(builder.add(hit({}), false)).toBe(true);
    expect(builder.add(hit({ status: 500 }), false)).toBe(false);
    expect(builder.add(hit({ source: operator }), false)).toBe(false);
    expect(builder.add(hit({ operationId: null, reason: "no such path" }), false)).toBe(false);
    expect(
      builder.addFields(hit({ requestFields: { fields: ["P:a", "P:b"], unknown: ["P:c"] } }), false),
    ).toBe(3);
    expect(
      builder.addFields(hit({ source: operator, requestFields: { fields: ["P:a"], unknown: [] } }), false),
    ).toBe(1);
    expect(builder.keyCount).toBe(rows);
    expect(builder.pendingHits).toBe(2);
    expect(builder.drain()?.hits).toEqual([expect.objectContaining({ count: 2 })]);
  });

  it("names a batch by the id it is given", () => {
    const builder = new RollupBuilder("import", "1.34");
    builder.add(hit({}));
    expect(builder.drain(1, "0f1e2d3c-4b5a-8968-8776-655443322110")?.batchId).toBe(
      "0f1e2d3c-4b5a-8968-8776-655443322110",
    );
  });
});
