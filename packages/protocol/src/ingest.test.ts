import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Hit } from "./hit";
import { decodeIngestBatch, hitProblem, type IngestBatch, PROTOCOL_VERSION, statusClassOf } from "./ingest";
import { SourceSchema, sourceFromUserAgent, sourceKey } from "./source";

function batch(): IngestBatch {
  return {
    protocol: PROTOCOL_VERSION,
    batchId: randomUUID(),
    proxyId: "proxy-a",
    release: "1.34",
    sentAt: Date.now(),
    sources: [sourceFromUserAgent("kubectl/v1.32.4 (linux/amd64) kubernetes/abc")],
    hits: [
      {
        source: 0,
        operationId: "listCoreV1NamespacedPod",
        method: "GET",
        statusClass: "2xx",
        minute: 29_000_000,
        count: 3,
        details: { watch: 1 },
      },
    ],
    unknownCalls: [
      {
        source: 0,
        method: "GET",
        path: "/apis/x.io/v1/y",
        reason: "group not served by this spec",
        statusClass: "4xx",
        minute: 29_000_000,
        count: 1,
      },
    ],
    fields: [
      {
        source: 0,
        operationId: "listCoreV1NamespacedPod",
        direction: "response",
        field: "io.k8s.api.core.v1.Pod:spec.containers[].image",
        unknown: false,
        hour: 480_000,
        count: 3,
      },
    ],
  };
}

describe("decodeIngestBatch", () => {
  it("accepts a well-formed batch", () => {
    const input = batch();
    expect(decodeIngestBatch(JSON.parse(JSON.stringify(input)))).toEqual({ ok: true, batch: input });
  });

  it("rejects bad batches with a one-line reason", () => {
    const wrongVersion = { ...batch(), protocol: 99 };
    expect(decodeIngestBatch(wrongVersion)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^invalid batch: protocol:/),
    });
    const badSource = batch();
    (badSource.hits[0] as { source: number }).source = 5;
    expect(decodeIngestBatch(badSource)).toEqual({
      ok: false,
      error: "invalid batch: source index 5 out of range",
    });
    const zeroCount = batch();
    (zeroCount.hits[0] as { count: number }).count = 0;
    expect(decodeIngestBatch(zeroCount)).toMatchObject({
      ok: false,
      error: expect.stringContaining("hits.0.count"),
    });
    expect(decodeIngestBatch(null)).toMatchObject({ ok: false });
    expect(decodeIngestBatch({ ...batch(), batchId: "not-a-uuid" })).toMatchObject({ ok: false });
  });

  it("keeps the reason one short line when the sender's own keys are in it (found by ingest.fuzz.test.ts)", () => {
    const input = batch();
    (input.hits[0] as { details: Record<string, number> }).details = {
      [`a\nb\u2028${"k".repeat(100_000)}`]: 1,
    };
    const result = decodeIngestBatch(input);
    expect(result).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^invalid batch: hits\.0\.details\.a b k+…: /),
    });
    expect(result.ok ? "" : result.error).not.toMatch(/[\n\u2028]/);
    expect(result.ok ? "" : result.error.length).toBeLessThan(512);
  });

  it("refuses a NUL anywhere PostgreSQL would (text, jsonb keys) as invalid, not as a storage failure", () => {
    const nulAgent = batch();
    nulAgent.sources[0] = { ...sourceFromUserAgent("kubectl"), userAgent: "a\u0000b" };
    const nulDetail = batch();
    (nulDetail.hits[0] as IngestBatch["hits"][number]).details = { "a\u0000b": 1 };
    const nulPath = batch();
    (nulPath.unknownCalls[0] as IngestBatch["unknownCalls"][number]).path = "/x\u0000";
    const nulField = batch();
    (nulField.fields[0] as IngestBatch["fields"][number]).field = "P:\u0000";
    for (const input of [nulAgent, nulDetail, nulPath, nulField]) {
      expect(decodeIngestBatch(input)).toMatchObject({
        ok: false,
        error: expect.stringMatching(/^invalid batch: /),
      });
    }
  });

  it("names what would make a hit's rows invalid, or nothing for a good one", () => {
    const good: Hit = {
      at: Date.UTC(2026, 0, 1),
      method: "GET",
      operationId: "listCoreV1NamespacedPod",
      path: "/api/v1/namespaces/a/pods",
      status: 200,
      source: sourceFromUserAgent("kubectl"),
      details: ["watch"],
      requestFields: { fields: ["P:a"], unknown: [] },
    };
    expect(hitProblem(good)).toBeNull();
    expect(
      hitProblem({ ...good, operationId: null, reason: "no such path", path: "/x".repeat(5000) }),
    ).toBeNull();
    expect(hitProblem({ ...good, source: { ...good.source, userAgent: "a\u0000" } })).toBe(
      "source.userAgent: contains a NUL character",
    );
    expect(hitProblem({ ...good, method: "M".repeat(17) })).toMatch(/^method: /);
    expect(hitProblem({ ...good, operationId: "o".repeat(257) })).toMatch(/^operationId: /);
    expect(hitProblem({ ...good, details: ["d".repeat(129)] })).toMatch(/^details/);
    expect(hitProblem({ ...good, requestFields: { fields: ["\u0000"], unknown: [] } })).toMatch(/^field: /);
    expect(hitProblem({ ...good, at: Number.NaN })).toBe("time out of range");
    expect(hitProblem({ ...good, at: Date.UTC(10000, 0, 2) })).toBe("time out of range");
  });

  it("never throws on 100,000 random and mutated inputs", () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const values = [null, -1, 0, 1.5, "", "x", true, [], {}, Number.MAX_SAFE_INTEGER * 2, "2xx"];
    const mutate = (value: unknown, depth: number): unknown => {
      if (random() < 0.05 || depth > 6) return values[Math.floor(random() * values.length)];
      if (Array.isArray(value)) return value.map((v) => mutate(v, depth + 1));
      if (value && typeof value === "object") {
        return Object.fromEntries(
          Object.entries(value)
            .filter(() => random() > 0.03)
            .map(([k, v]) => [k, mutate(v, depth + 1)]),
        );
      }
      return value;
    };
    let accepted = 0;
    for (let i = 0; i < 100_000; i++) {
      const result = decodeIngestBatch(mutate(batch(), 0));
      if (result.ok) accepted++;
      else expect(result.error).not.toContain("\n");
    }
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(100_000);
  });
});

describe("sources", () => {
  it("reads the e2e test name and conformance flag from the user agent", () => {
    const ua =
      "e2e.test/v1.34.4 (linux/amd64) kubernetes/5a1e4f3 -- [sig-api-machinery] ConfigMap should be consumable via the environment [NodeConformance] [Conformance]";
    expect(sourceFromUserAgent(ua)).toMatchObject({
      e2eTest:
        "[sig-api-machinery] ConfigMap should be consumable via the environment [NodeConformance] [Conformance]",
      conformance: true,
    });
    expect(sourceFromUserAgent("e2e.test/v1.34.4 -- [sig-apps] Deployment should scale")).toMatchObject({
      e2eTest: "[sig-apps] Deployment should scale",
      conformance: false,
    });
    expect(sourceFromUserAgent("kubectl/v1.32 -- not-e2e [Conformance]")).toMatchObject({
      e2eTest: null,
      conformance: false,
    });
    expect(sourceFromUserAgent("e2e.test/v1.34.4 (linux/amd64)")).toMatchObject({ e2eTest: null });
    expect(sourceFromUserAgent("kubectl", "my-operator").name).toBe("my-operator");
  });

  it("keys equal sources equally and different sources differently", () => {
    const a = sourceFromUserAgent("kubectl");
    expect(sourceKey(a)).toBe(sourceKey({ ...a }));
    expect(sourceKey(a)).not.toBe(sourceKey({ ...a, pod: "web-0" }));
  });

  it("keys a source without cluster and run as before they were named, and tells runs apart", () => {
    const kubectl = sourceFromUserAgent("kubectl");
    // The key every stored kubectl source without a cluster has had (its sha256 is Source.key).
    expect(sourceKey(kubectl)).toBe('["kubectl",null,false,null,null,null,null,null,null,null]');
    const legacy = SourceSchema.parse({ ...kubectl, cluster: undefined, run: undefined });
    expect(legacy).toMatchObject({ cluster: null, run: null });
    expect(sourceKey(legacy)).toBe(sourceKey(kubectl));
    const a = { ...kubectl, cluster: "ci-east", run: "pr-1" };
    expect(
      new Set([a, { ...a, run: "pr-2" }, { ...a, cluster: "ci-west" }, kubectl].map(sourceKey)).size,
    ).toBe(4);
    expect(sourceKey({ ...a, run: null })).not.toBe(sourceKey(kubectl));
  });

  it("classifies statuses", () => {
    expect([200, 201, 304, 404, 409, 500, 101, null, 0].map(statusClassOf)).toEqual([
      "2xx",
      "2xx",
      "3xx",
      "4xx",
      "4xx",
      "5xx",
      "1xx",
      "error",
      "error",
    ]);
  });
});

describe("SourceSchema", () => {
  it("reads the Helm release of batches spooled before it was named helmRelease", () => {
    const { helmRelease, ...rest } = { ...sourceFromUserAgent("helm/3"), helmRelease: "web" };
    expect(SourceSchema.parse({ ...rest, release: "web" })).toEqual({ ...rest, helmRelease });
    expect(SourceSchema.parse({ ...rest, helmRelease: "new", release: "old" }).helmRelease).toBe("new");
  });
});
