import { type HitLine, HitLineSchema, sourceFromUserAgent } from "@apisnoop/protocol";
import { describe, expect, it } from "vitest";
import { fakeFlow, fakeMatch } from "../testing";
import { hitLineOf, isoTimestamp, record } from "./record";

describe("isoTimestamp", () => {
  it("writes what Date#toISOString writes, within a second, across seconds and outside years 0–9999", () => {
    const start = Date.UTC(2026, 0, 2, 3, 4, 5, 0);
    const times = [start, start + 7, start + 42, start + 678, start + 999, start + 1000, start + 61_001];
    times.push(start + 5, start - 1, 0, -1, -62167219200000, -62167219200001, 253402300799999);
    times.push(253402300800000, 1.5);
    for (const ms of times) expect(isoTimestamp(ms)).toBe(new Date(ms).toISOString());
  });
});

describe("hitLineOf", () => {
  it("writes exactly the hits-file line's fields, path without query, only Kubernetes query parameters", () => {
    const flow = fakeFlow(
      {
        method: "GET",
        url: "/api/v1/namespaces/default/pods?watch=true&access_token=secret&labelSelector=app%3Dweb",
      },
      {
        response: { status: 200 },
        durationMs: 1.23456,
        match: fakeMatch("listCoreV1NamespacedPod", { detail: "watch", watch: true }),
      },
    );
    expect(hitLineOf(flow)).toEqual({
      ts: "2026-01-02T03:04:05.678Z",
      method: "GET",
      path: "/api/v1/namespaces/default/pods",
      query: "watch=true&labelSelector=app%3Dweb",
      status: 200,
      durationMs: 1.235,
      operationId: "listCoreV1NamespacedPod",
      userAgent: "kubectl/v1.34.0",
    });
  });

  it("writes lines the hits-file schema reads back unchanged, sources and fields included", () => {
    const flow = fakeFlow(
      { method: "PATCH", url: "/api/v1/namespaces/d/pods/p?fieldManager=x" },
      {
        response: { status: 200 },
        durationMs: 2,
        match: fakeMatch("patchCoreV1NamespacedPod"),
        details: ["patch:merge"],
        source: { ...sourceFromUserAgent("kubectl/v1.34.0"), namespace: "d", helmRelease: "web" },
        fields: { request: { fields: new Set(["a:b", "a:a"]), unknown: new Set(["a:c"]) }, response: null },
      },
    );
    const line = hitLineOf(flow);
    expect(HitLineSchema.parse(JSON.parse(JSON.stringify(line)))).toEqual(line);
    expect(line).toMatchObject({
      source: { namespace: "d", helmRelease: "web" },
      requestFields: { fields: ["a:a", "a:b"], unknown: ["a:c"] },
    });
  });

  it("gives unmatched hits their reason and a status 0 when the client left before an answer", () => {
    const flow = fakeFlow(
      { url: "/apis/nope.example.com/v1/things", userAgent: null },
      { durationMs: 5, match: fakeMatch(null, { reason: "group not served by this spec" }) },
    );
    const hit = hitLineOf(flow);
    expect(hit).toMatchObject({
      status: 0,
      operationId: null,
      reason: "group not served by this spec",
      userAgent: null,
      query: "",
    });
  });

  it("says 'not matched' when no analysis ran (a failed match addon)", () => {
    expect(hitLineOf(fakeFlow({}, { response: { status: 200 }, durationMs: 1 })).reason).toBe("not matched");
  });
});

describe("record", () => {
  it("counts each flow at complete and writes it with its fields at done", () => {
    const counted: (string | null)[] = [];
    const written: HitLine[] = [];
    const addon = record(
      { count: (hit) => counted.push(hit.operationId) },
      { write: (hit) => written.push(hit) },
    );
    const flow = fakeFlow({}, { response: { status: 201 }, durationMs: 2, match: fakeMatch("x") });
    addon.complete?.(flow);
    expect([counted, written.length]).toEqual([["x"], 0]);
    flow.details = ["dryRun"];
    flow.fields = {
      request: { fields: new Set(["K:b", "K:a"]), unknown: new Set(["K:typo"]) },
      response: null,
    };
    addon.done?.(flow);
    expect(counted).toEqual(["x"]);
    expect(written.map((h) => [h.status, h.operationId, h.details, h.requestFields])).toEqual([
      [201, "x", ["dryRun"], { fields: ["K:a", "K:b"], unknown: ["K:typo"] }],
    ]);
  });

  it("keeps the known parts of the source in the line, never an empty one", () => {
    const flow = fakeFlow({}, { response: { status: 200 }, durationMs: 1, match: fakeMatch("x") });
    expect(hitLineOf(flow).source).toBeUndefined();
    flow.source = {
      userAgent: "kubectl",
      e2eTest: null,
      conformance: false,
      name: "team-a",
      namespace: "ns",
      pod: null,
      serviceAccount: null,
      chart: null,
      helmRelease: null,
      managedBy: null,
      cluster: null,
      run: null,
    };
    expect(hitLineOf(flow).source).toEqual({ name: "team-a", namespace: "ns" });
  });
});
