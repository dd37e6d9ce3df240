import type { EndpointCatalog } from "@apisnoop/openapi";
import { UNMATCHED_REASONS } from "@apisnoop/openapi";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import type { FieldCount, HitRollup, UnknownCall } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getChart } from "./chart";
import type { Database } from "./database";
import { getEndpointDetail } from "./endpoint-detail";
import { NotFoundError } from "./errors";
import { type CoverageFilters, parseCoverageFilters } from "./filters";
import { recordBatch } from "./record-batch";
import { loadRelease } from "./releases";
import { listSources } from "./sources";
import { epochMinute, openTestDatabase, testBatch, testSource } from "./testing";
import { countUnknownCalls, getUnknown } from "./unknown";
import { getUsage } from "./usage";

/** One scenario for the drill-down queries: endpoint detail, chart, unknown, sources. */

let db: Database;
let catalog: EndpointCatalog;
let watchOp: string;
let deprecatedOp: string;
/** Database id of each named source. */
const id: Record<string, number> = {};

const M = epochMinute("2026-11-28T12:00:00Z");
const H = Math.floor(M / 60);
const at = (minute: number) => new Date(minute * 60_000);
const sources = {
  A: testSource("kubectl/v1.34.0 (linux/amd64) kubernetes/abc", { namespace: "default" }),
  B: testSource("helm/3.14", {
    chart: "nginx-1.2.3",
    namespace: "web",
    pod: "nginx-0",
    serviceAccount: "nginx",
  }),
  B2: testSource("helm/3.14", {
    chart: "nginx-1.2.3",
    namespace: "web",
    pod: "nginx-1",
    serviceAccount: "nginx",
  }),
  C: testSource("controller/1.0", { chart: "nginx-ingress-4.0.0", namespace: "ingress", pod: "ingress-0" }),
  D: testSource("e2e.test/v1.34.0 -- [sig-apps] Deployment should work [Conformance]"),
  E: testSource("e2e.test/v1.34.0 -- [sig-cli] Kubectl logs should work"),
};
type Name = keyof typeof sources;
const names = Object.keys(sources) as Name[];
const index = (name: Name) => names.indexOf(name);
const deployment = "io.k8s.api.apps.v1.Deployment";

beforeAll(async () => {
  db = await openTestDatabase();
  catalog = sharedCatalog("1.34");
  watchOp = catalog.watchOperations[0]?.operationId as string;
  await loadRelease(db.prisma, catalog, { origin: "shared/k8s", isDefault: true });
  // 1.34's spec calls none of its (non-watch) endpoints deprecated: mark one, as an older spec would.
  deprecatedOp = "listCoreV1ComponentStatus";
  await db.prisma.endpoint.update({
    where: { release_operationId: { release: "1.34", operationId: deprecatedOp } },
    data: { deprecated: true, conformanceEligible: false },
  });
  const hit = (
    source: Name,
    operationId: string,
    statusClass: HitRollup["statusClass"],
    count: number,
    minute: number,
    details: Record<string, number> = {},
  ): HitRollup => ({
    source: index(source),
    operationId,
    method: "GET",
    statusClass,
    minute,
    count,
    details,
  });
  const call = (
    source: Name,
    method: string,
    path: string,
    reason: string,
    count: number,
    minute: number,
  ): UnknownCall => ({
    source: index(source),
    method,
    path,
    reason,
    statusClass: "4xx",
    minute,
    count,
  });
  const field = (
    source: Name,
    operationId: string,
    direction: FieldCount["direction"],
    path: string,
    count: number,
    unknown = false,
  ): FieldCount => ({ source: index(source), operationId, direction, field: path, unknown, hour: H, count });
  const result = await recordBatch(
    db.prisma,
    testBatch({
      sources: names.map((name) => sources[name]),
      hits: [
        hit("A", "listCoreV1NamespacedPod", "2xx", 5, M, { watch: 2 }),
        hit("A", "readCoreV1NamespacedPod", "4xx", 2, M),
        hit("B", "listCoreV1NamespacedPod", "2xx", 3, M + 60, { watch: 1 }),
        hit("B", "patchAppsV1NamespacedDeployment", "2xx", 2, M + 60, { "patch:strategic-merge": 2 }),
        hit("B", watchOp, "2xx", 1, M + 60),
        hit("B", "listFooV1Bars", "2xx", 1, M + 60),
        hit("B", deprecatedOp, "2xx", 1, M + 60),
        hit("B2", "listCoreV1NamespacedPod", "2xx", 1, M + 61),
        hit("C", "createAppsV1NamespacedDeployment", "5xx", 4, M + 120),
        hit("D", "createAppsV1NamespacedDeployment", "2xx", 6, M),
        hit("E", "listCoreV1NamespacedPod", "2xx", 2, M),
      ],
      unknownCalls: [
        call("A", "GET", "/apis/nope/v1/things", "no such path", 2, M),
        call("A", "GET", "/apis/nope/v1/things", "no such path", 3, M + 1),
        call("B", "DELETE", "/api/v1/namespaces/web/pods", "method not allowed", 1, M + 60),
        call("C", "GET", "/apis/nope/v1/things", "no such path", 5, M + 120),
        call("A", "GET", "/openapi/v3/apis/apps/v1", UNMATCHED_REASONS.outsideSpec, 4, M),
      ],
      fields: [
        field("B", "patchAppsV1NamespacedDeployment", "request", `${deployment}:spec.replicas`, 2),
        field("B", "patchAppsV1NamespacedDeployment", "request", `${deployment}:spec.replicaz`, 1, true),
        field("B", "listCoreV1NamespacedPod", "response", "io.k8s.api.core.v1.Pod:metadata.name", 3),
        field("A", "listCoreV1NamespacedPod", "response", "io.k8s.api.core.v1.Pod:metadata.name", 5),
        field("C", "createAppsV1NamespacedDeployment", "request", `${deployment}:spec.replicas`, 4),
      ],
    }),
  );
  for (const name of names) id[name] = result.sourceIds[index(name)] as number;
}, 120_000);
afterAll(async () => {
  await db?.stop();
});

function filters(query: string): CoverageFilters {
  const parsed = parseCoverageFilters(new URLSearchParams(query));
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.filters;
}

describe("getEndpointDetail", () => {
  it("tells who hit an endpoint, how, with which fields, and when", async () => {
    const detail = await getEndpointDetail(db.prisma, "listCoreV1NamespacedPod", filters(""));
    expect(detail).toMatchObject({
      release: "1.34",
      hits: 11,
      hits2xx: 11,
      tested: true,
      firstSeen: at(M),
      lastSeen: at(M + 61),
      statusClasses: { "2xx": 11 },
      details: { watch: 3 },
      e2eTests: [{ name: "[sig-cli] Kubectl logs should work", conformance: false, hits: 2, hits2xx: 2 }],
      fields: [
        {
          direction: "response",
          field: "io.k8s.api.core.v1.Pod:metadata.name",
          unknown: false,
          count: 8,
          sources: 2,
        },
      ],
    });
    expect(detail.endpoint).toMatchObject({
      operationId: "listCoreV1NamespacedPod",
      path: "/api/v1/namespaces/{namespace}/pods",
      kind: "Pod",
      level: "stable",
      watchOperation: false,
    });
    expect(detail.sources.map((source) => [source.id, source.hits, source.firstHit, source.lastHit])).toEqual(
      [
        [id.A, 5, at(M), at(M)],
        [id.B, 3, at(M + 60), at(M + 60)],
        [id.E, 2, at(M), at(M)],
        [id.B2, 1, at(M + 61), at(M + 61)],
      ],
    );
    expect(detail.sources[1]).toMatchObject({ chart: "nginx-1.2.3", pod: "nginx-0", userAgent: "helm/3.14" });
  });

  it("narrows to the filters' sources and time window", async () => {
    const byChart = await getEndpointDetail(db.prisma, "listCoreV1NamespacedPod", filters("chart=nginx"));
    expect(byChart).toMatchObject({ hits: 4, details: { watch: 1 }, e2eTests: [] });
    expect(byChart.sources.map((source) => source.id)).toEqual([id.B, id.B2]);
    expect(byChart.fields).toMatchObject([{ count: 3, sources: 1 }]);
    const byWindow = await getEndpointDetail(
      db.prisma,
      "listCoreV1NamespacedPod",
      filters("from=2026-11-28T13:00:00Z"),
    );
    expect(byWindow).toMatchObject({ hits: 4, firstSeen: at(M + 60), lastSeen: at(M + 61) });
  });

  it("counts only 2xx hits as tests under outcome=2xx, still listing every status", async () => {
    const detail = await getEndpointDetail(
      db.prisma,
      "createAppsV1NamespacedDeployment",
      filters("outcome=2xx"),
    );
    expect(detail).toMatchObject({
      hits: 10,
      hits2xx: 6,
      tested: true,
      statusClasses: { "2xx": 6, "5xx": 4 },
      firstSeen: at(M),
      lastSeen: at(M),
      e2eTests: [{ name: "[sig-apps] Deployment should work [Conformance]", conformance: true, hits: 6 }],
    });
    const failing = await getEndpointDetail(
      db.prisma,
      "createAppsV1NamespacedDeployment",
      filters("outcome=2xx&chart=nginx-ingress"),
    );
    expect(failing).toMatchObject({ hits: 4, hits2xx: 0, tested: false, firstSeen: null, lastSeen: null });
  });

  it("describes hits on operations the spec lacks and on deprecated watch operations; 404 for the rest", async () => {
    expect(await getEndpointDetail(db.prisma, "listFooV1Bars", filters(""))).toMatchObject({
      endpoint: null,
      hits: 1,
    });
    expect(await getEndpointDetail(db.prisma, watchOp, filters(""))).toMatchObject({
      endpoint: { watchOperation: true },
      hits: 1,
    });
    const untested = await getEndpointDetail(db.prisma, "deleteCoreV1Namespace", filters(""));
    expect(untested).toMatchObject({ hits: 0, tested: false, sources: [], fields: [], statusClasses: {} });
    await expect(getEndpointDetail(db.prisma, "noSuchOperation", filters(""))).rejects.toThrow(NotFoundError);
  });
});

describe("getUnknown", () => {
  it("lists unknown calls and fields with their sources, most frequent first", async () => {
    const report = await getUnknown(db.prisma, filters(""));
    expect(report.calls).toEqual([
      {
        method: "GET",
        path: "/apis/nope/v1/things",
        reason: "no such path",
        count: 10,
        statusClasses: { "4xx": 10 },
        sourceIds: [id.A, id.C].sort((a, b) => (a as number) - (b as number)),
        firstSeen: at(M),
        lastSeen: at(M + 120),
      },
      {
        method: "GET",
        path: "/openapi/v3/apis/apps/v1",
        reason: "apiserver path outside the spec",
        count: 4,
        statusClasses: { "4xx": 4 },
        sourceIds: [id.A],
        firstSeen: at(M),
        lastSeen: at(M),
      },
      {
        method: "DELETE",
        path: "/api/v1/namespaces/web/pods",
        reason: "method not allowed",
        count: 1,
        statusClasses: { "4xx": 1 },
        sourceIds: [id.B],
        firstSeen: at(M + 60),
        lastSeen: at(M + 60),
      },
    ]);
    expect(report.fields).toEqual([
      {
        operationId: "patchAppsV1NamespacedDeployment",
        direction: "request",
        field: `${deployment}:spec.replicaz`,
        count: 1,
        sourceIds: [id.B],
      },
    ]);
    expect(report.sources.map((source) => source.id).sort()).toEqual([id.A, id.B, id.C].sort());
  });

  it("narrows to the filters' sources and time window", async () => {
    const byChart = await getUnknown(db.prisma, filters("chart=nginx"));
    expect(byChart.calls.map((call) => [call.method, call.count])).toEqual([["DELETE", 1]]);
    expect(byChart.fields).toHaveLength(1);
    const byWindow = await getUnknown(db.prisma, filters("from=2026-11-28T12:30:00Z"));
    expect(byWindow.calls.map((call) => [call.method, call.count])).toEqual([
      ["GET", 5],
      ["DELETE", 1],
    ]);
    expect((await getUnknown(db.prisma, filters("namespace=default"))).fields).toEqual([]);
  });

  it("counts the unknown calls it lists, under the same filters, leaving the apiserver's own paths out", async () => {
    const counts: number[] = [];
    for (const query of ["", "chart=nginx", "from=2026-11-28T12:30:00Z", "namespace=nowhere"]) {
      const listed = (await getUnknown(db.prisma, filters(query))).calls
        .filter((call) => call.reason !== UNMATCHED_REASONS.outsideSpec)
        .reduce((sum, c) => sum + c.count, 0);
      const counted = await countUnknownCalls(db.prisma, filters(query));
      expect(counted, query).toBe(listed);
      counts.push(counted);
    }
    expect(counts[0]).toBe(11); // 10 + 1, not the 4 calls of /openapi/v3/…
    expect(counts[0]).toBeGreaterThan(counts[1] as number);
    expect(counts[3]).toBe(0);
  });
});

describe("listSources", () => {
  it("lists every source with its hits and endpoints, most hits first", async () => {
    const listed = await listSources(db.prisma, filters(""));
    const byId = new Map(listed.map((source) => [source.id, source]));
    const summary = (name: Name) => {
      const source = byId.get(id[name] as number);
      return [source?.hits, source?.hits2xx, source?.endpoints];
    };
    expect(names.map(summary)).toEqual([
      [7, 5, 2],
      [8, 8, 5],
      [1, 1, 1],
      [4, 0, 1],
      [6, 6, 1],
      [2, 2, 1],
    ]);
    expect(listed.map((source) => source.hits)).toEqual([8, 7, 6, 4, 2, 1]);
    expect(byId.get(id.B as number)).toMatchObject({
      firstHit: at(M + 60),
      lastHit: at(M + 60),
      serviceAccount: "nginx",
    });
  });

  it("narrows by source filters, and counts by outcome and window", async () => {
    expect((await listSources(db.prisma, filters("chart=nginx"))).map((source) => source.id)).toEqual([
      id.B,
      id.B2,
    ]);
    const ok = await listSources(db.prisma, filters("outcome=2xx&chart=nginx-ingress"));
    expect(ok.map((source) => [source.hits, source.hits2xx, source.endpoints])).toEqual([[4, 0, 0]]);
    const late = await listSources(db.prisma, filters("from=2026-11-28T14:00:00Z"));
    expect(late.map((source) => [source.id, source.hits])).toEqual([
      [id.C, 4],
      ...names
        .filter((name) => name !== "C")
        .map((name) => [id[name], 0])
        .sort((a, b) => (a[0] as number) - (b[0] as number)),
    ]);
  });

  it("reads the same numbers from the totals kept per source as from a window over all time", async () => {
    for (const query of ["", "outcome=2xx", "namespace=default"]) {
      const all = `${query}&from=2000-01-01&to=2100-01-01`;
      expect(await listSources(db.prisma, filters(query))).toEqual(
        await listSources(db.prisma, filters(all)),
      );
    }
  });
});

describe("getChart", () => {
  it("reports what a chart's pods used: endpoints, deprecated ones, unknowns, fields, pods", async () => {
    const report = await getChart(db.prisma, "nginx", filters(""));
    expect(report.sources.map((source) => source.id)).toEqual([id.B, id.B2]);
    expect(report.endpoints.map((endpoint) => [endpoint.operationId, endpoint.hits]).sort()).toEqual(
      [
        ["listCoreV1NamespacedPod", 4],
        ["patchAppsV1NamespacedDeployment", 2],
        [deprecatedOp, 1],
      ].sort(),
    );
    expect(report.totals.all).toEqual({ endpoints: 3, tested: 3, hits: 7 });
    expect(report.deprecated.map((endpoint) => endpoint.operationId)).toEqual([deprecatedOp]);
    expect(report.otherOperations).toEqual(
      [
        { operationId: "listFooV1Bars", hits: 1, watchOperation: false },
        { operationId: watchOp, hits: 1, watchOperation: true },
      ].sort((a, b) => a.operationId.localeCompare(b.operationId)),
    );
    expect(report.unknownCalls.map((call) => call.path)).toEqual(["/api/v1/namespaces/web/pods"]);
    expect(report.unknownFields.map((field) => field.field)).toEqual([`${deployment}:spec.replicaz`]);
    expect(report.fieldsByDefinition).toEqual([
      { definition: deployment, fields: 2, unknownFields: 1, uses: 3 },
      { definition: "io.k8s.api.core.v1.Pod", fields: 1, unknownFields: 0, uses: 3 },
    ]);
    expect(report.pods).toEqual([
      { namespace: "web", pod: "nginx-0", hits: 8, endpoints: 5 },
      { namespace: "web", pod: "nginx-1", hits: 1, endpoints: 1 },
    ]);
  });

  it("keeps the filters' outcome, window and level", async () => {
    const failing = await getChart(db.prisma, "nginx-ingress", filters("outcome=2xx"));
    expect(failing.endpoints.map((endpoint) => endpoint.operationId)).toEqual([
      "createAppsV1NamespacedDeployment",
    ]);
    expect(failing.totals.all).toEqual({ endpoints: 1, tested: 0, hits: 4 });
    const late = await getChart(db.prisma, "nginx", filters("from=2026-11-28T13:01:00Z"));
    expect(late.pods).toEqual([{ namespace: "web", pod: "nginx-1", hits: 1, endpoints: 1 }]);
    const beta = await getChart(db.prisma, "nginx", filters("level=beta"));
    expect(beta.endpoints).toEqual([]);
  });
});

describe("getUsage", () => {
  it("lists every operation called, watch operations and unknown ones included, with callers", async () => {
    const usage = await getUsage(db.prisma, filters("chart=nginx"));
    expect(
      Object.fromEntries(usage.operations.map((operation) => [operation.operationId, operation.hits])),
    ).toEqual({
      listCoreV1NamespacedPod: 4,
      patchAppsV1NamespacedDeployment: 2,
      [watchOp]: 1,
      listFooV1Bars: 1,
      [deprecatedOp]: 1,
    });
    const list = usage.operations.find((operation) => operation.operationId === "listCoreV1NamespacedPod");
    expect(list?.callers.map((caller) => [caller.pod, caller.hits, caller.lastSeen])).toEqual([
      ["nginx-0", 3, at(M + 60)],
      ["nginx-1", 1, at(M + 61)],
    ]);
    expect(list?.lastSeen).toEqual(at(M + 61));
  });

  it("counts under the outcome, from totals or from the time window", async () => {
    const ok = await getUsage(db.prisma, filters("outcome=2xx&chart=nginx-ingress"));
    expect(ok.operations).toEqual([]);
    const windowed = await getUsage(db.prisma, filters("from=2026-11-28T13:01:00Z&outcome=2xx"));
    expect(windowed.operations.map((operation) => [operation.operationId, operation.hits])).toEqual([
      ["listCoreV1NamespacedPod", 1],
    ]);
  });
});
