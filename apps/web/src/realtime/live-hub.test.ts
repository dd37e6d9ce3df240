import { randomUUID } from "node:crypto";
import { UNMATCHED_REASONS } from "@apisnoop/openapi";
import {
  type IngestBatch,
  LIVE_MAX_DELTAS_PER_SECOND,
  type LiveDelta,
  PROTOCOL_VERSION,
  type StatusClass,
  sourceFromUserAgent,
} from "@apisnoop/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type CommittedHits, committedHits, LiveHub, type LiveScope } from "./live-hub";

const kubectl = sourceFromUserAgent("kubectl/v1.34.0 (linux/amd64) kubernetes/abc");
const nginx = { ...sourceFromUserAgent("nginx-controller/1.0"), chart: "ingress-nginx-4.0.0", pod: "ctl-0" };

type HitSpec = [source: number, operationId: string, count: number, statusClass?: StatusClass];

function batch(hits: HitSpec[], unknown = 0): CommittedHits {
  return committedHits(ingestBatch(hits, unknown), "1.34", Date.now());
}

function ingestBatch(hits: HitSpec[], unknown = 0): IngestBatch {
  return {
    protocol: PROTOCOL_VERSION,
    batchId: randomUUID(),
    proxyId: "proxy-a",
    release: "1.34",
    sentAt: Date.now(),
    sources: [kubectl, nginx],
    hits: hits.map(([source, operationId, count, statusClass = "2xx"]) => ({
      source,
      operationId,
      method: "GET",
      statusClass,
      minute: 29_000_000,
      count,
      details: {},
    })),
    unknownCalls: unknown
      ? [
          {
            source: 0,
            method: "GET",
            path: "/apis/x.io/v1/y",
            reason: "no such path",
            statusClass: "4xx",
            minute: 29_000_000,
            count: unknown,
          },
        ]
      : [],
    fields: [],
  };
}

const everything: LiveScope = {
  acceptsRelease: (release) => release === "1.34",
  acceptsEndpoint: () => true,
  acceptsSource: () => true,
  successOnly: false,
};

describe("committedHits", () => {
  it("folds minutes and methods away and keeps hits per source, endpoint and outcome", () => {
    const stored = ingestBatch(
      [
        [0, "listCoreV1Pod", 1],
        [0, "listCoreV1Pod", 2],
        [1, "listCoreV1Pod", 4],
        [0, "listCoreV1Pod", 8, "4xx"],
      ],
      3,
    );
    stored.hits[1] = {
      ...(stored.hits[1] as IngestBatch["hits"][number]),
      minute: 29_000_001,
      method: "HEAD",
    };
    expect(committedHits(stored, "1.34", 42)).toEqual({
      release: "1.34",
      receivedAt: 42,
      sources: [kubectl, nginx],
      hits: [
        [0, "listCoreV1Pod", true, 3],
        [1, "listCoreV1Pod", true, 4],
        [0, "listCoreV1Pod", false, 8],
      ],
      unknownCalls: [[0, false, 3]],
    });
  });
});

describe("LiveHub", () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it("sends the first hit at once and coalesces the rest to LIVE_MAX_DELTAS_PER_SECOND", () => {
    const hub = new LiveHub();
    const deltas: LiveDelta[] = [];
    hub.subscribe("a", everything, (delta) => deltas.push(delta));

    hub.publish(batch([[0, "listCoreV1Pod", 1]]));
    vi.advanceTimersByTime(0);
    expect(deltas).toHaveLength(1);
    expect(deltas[0]).toMatchObject({ seq: 1, hits: 1, endpoints: { listCoreV1Pod: 1 } });

    // 100 batches over one second: LIVE_MAX_DELTAS_PER_SECOND deltas at most, and no hit lost.
    for (let i = 0; i < 100; i++) {
      hub.publish(batch([[i % 2, i % 3 ? "listCoreV1Pod" : "readCoreV1Namespace", 2]]));
      vi.advanceTimersByTime(10);
    }
    vi.advanceTimersByTime(1000);
    const after = deltas.slice(1);
    expect(after.length).toBeLessThanOrEqual(LIVE_MAX_DELTAS_PER_SECOND + 1);
    expect(after.length).toBeGreaterThanOrEqual(LIVE_MAX_DELTAS_PER_SECOND - 1);
    expect(after.map((d) => d.seq)).toEqual(after.map((_, i) => i + 2));
    expect(after.reduce((sum, d) => sum + d.hits, 0)).toBe(200);
    expect(new Set(after.flatMap((d) => d.sources.map((s) => s.label)))).toEqual(
      new Set(["kubectl/v1.34.0", "ctl-0"]),
    );
  });

  it("never sends two deltas less than 1000 / LIVE_MAX_DELTAS_PER_SECOND ms apart", () => {
    const hub = new LiveHub();
    const sentAt: number[] = [];
    hub.subscribe("a", everything, () => sentAt.push(Date.now()));
    for (let i = 0; i < 500; i++) {
      hub.publish(batch([[0, "listCoreV1Pod", 1]]));
      vi.advanceTimersByTime(7);
    }
    vi.advanceTimersByTime(1000);
    for (let i = 1; i < sentAt.length; i++) {
      expect((sentAt[i] ?? 0) - (sentAt[i - 1] ?? 0)).toBeGreaterThanOrEqual(
        1000 / LIVE_MAX_DELTAS_PER_SECOND,
      );
    }
    // 3.5 s of hits: a delta in every slot, none skipped.
    expect(sentAt.length).toBeGreaterThanOrEqual(Math.floor(3.5 * LIVE_MAX_DELTAS_PER_SECOND));
  });

  it("scopes each subscriber to its filters", () => {
    const hub = new LiveHub();
    const chartOnly: LiveDelta[] = [];
    const stableOk: LiveDelta[] = [];
    hub.subscribe(
      "chart",
      { ...everything, acceptsSource: (source) => source.chart === "ingress-nginx-4.0.0" },
      (delta) => chartOnly.push(delta),
    );
    hub.subscribe(
      "stable-2xx",
      { ...everything, acceptsEndpoint: (id) => id !== "alphaThing", successOnly: true },
      (delta) => stableOk.push(delta),
    );
    hub.publish(
      batch(
        [
          [0, "listCoreV1Pod", 1],
          [1, "listCoreV1Pod", 2],
          [1, "alphaThing", 4],
          [0, "readCoreV1Namespace", 8, "4xx"],
        ],
        16,
      ),
    );
    vi.advanceTimersByTime(0);
    expect(chartOnly).toEqual([
      expect.objectContaining({ hits: 6, endpoints: { listCoreV1Pod: 2, alphaThing: 4 }, unknownCalls: 0 }),
    ]);
    expect(stableOk).toEqual([
      expect.objectContaining({ hits: 3, endpoints: { listCoreV1Pod: 3 }, unknownCalls: 0 }),
    ]);
  });

  it("counts unknown calls, not calls to the paths every apiserver serves outside its spec", () => {
    const hub = new LiveHub();
    const deltas: LiveDelta[] = [];
    hub.subscribe("all", everything, (delta) => deltas.push(delta));
    const calls = ingestBatch([], 3);
    const [unknown] = calls.unknownCalls as [IngestBatch["unknownCalls"][number]];
    calls.unknownCalls.push({
      ...unknown,
      path: "/openapi/v3",
      reason: UNMATCHED_REASONS.outsideSpec,
      count: 5,
    });
    hub.publish(committedHits(calls, "1.34", Date.now()));
    vi.advanceTimersByTime(0);
    expect(deltas).toEqual([expect.objectContaining({ hits: 0, unknownCalls: 3 })]);
  });

  it("files a batch under the release it was stored under, not the one it named (none here)", () => {
    const hub = new LiveHub();
    const deltas: LiveDelta[] = [];
    hub.subscribe("1.34", everything, (delta) => deltas.push(delta));
    hub.publish(
      committedHits({ ...ingestBatch([[0, "listCoreV1Pod", 1]]), release: null }, "1.34", Date.now()),
    );
    hub.publish(
      committedHits({ ...ingestBatch([[0, "listCoreV1Pod", 2]]), release: "1.34" }, "1.33", Date.now()),
    );
    vi.advanceTimersByTime(1000);
    expect(deltas).toEqual([expect.objectContaining({ hits: 1 })]);
    hub.close();
  });

  it("sends nothing for batches a scope rejects, and nothing after unsubscribe", () => {
    const hub = new LiveHub();
    const deltas: LiveDelta[] = [];
    hub.subscribe("other-release", { ...everything, acceptsRelease: () => false }, (delta) =>
      deltas.push(delta),
    );
    hub.publish(batch([[0, "listCoreV1Pod", 1]]));
    hub.subscribe("a", { ...everything, acceptsSource: () => false }, (delta) => deltas.push(delta));
    hub.publish(batch([[0, "listCoreV1Pod", 1]]));
    vi.advanceTimersByTime(1000);
    expect(deltas).toEqual([]);
    hub.subscribe("b", everything, (delta) => deltas.push(delta));
    hub.publish(batch([[0, "listCoreV1Pod", 1]]));
    hub.unsubscribe("b");
    vi.advanceTimersByTime(1000);
    expect(deltas).toEqual([]);
    expect(hub.size).toBe(2);
    hub.close();
    expect(hub.size).toBe(0);
  });
});
