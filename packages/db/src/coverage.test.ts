import { readFileSync } from "node:fs";
import path from "node:path";
import type { EndpointCatalog } from "@apisnoop/openapi";
import { SHARED_K8S, sharedCatalog } from "@apisnoop/openapi/testing";
import { type HitRollup, type Source, UPSTREAM_E2E } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient } from "./client";
import { type Coverage, getCoverage, getCoverageCounts } from "./coverage";
import type { Database } from "./database";
import { NotFoundError } from "./errors";
import { type CoverageFilters, parseCoverageFilters } from "./filters";
import { recordBatch } from "./record-batch";
import { getReleaseCatalog, type IneligibleEndpoint, listReleases, loadRelease } from "./releases";
import { epochMinute, openTestDatabase, testBatch, testSource } from "./testing";

let db: Database;
let catalog: EndpointCatalog;
let betaOp: string;
let alphaOp: string;
const ineligible: IneligibleEndpoint[] = JSON.parse(
  readFileSync(path.join(SHARED_K8S, "apisnoop", "ineligible_endpoints.json"), "utf8"),
);

const M = epochMinute("2026-11-28T12:00:00Z");
const kubectl = testSource("kubectl/v1.34.0 (linux/amd64) kubernetes/abc", { namespace: "default" });
const nginx = testSource("helm/3.14", {
  chart: "nginx-1.2.3",
  helmRelease: "web",
  namespace: "web",
  pod: "nginx-0",
  serviceAccount: "nginx",
});
const ingress = testSource("controller/1.0", {
  chart: "nginx-ingress-4.0.0",
  namespace: "ingress",
  pod: "ingress-0",
  serviceAccount: "ingress",
});
const e2e = testSource("e2e.test/v1.34.0 -- [sig-apps] Deployment should work [Conformance]", {
  name: "conformance-run",
});
const upstream = testSource("e2e.test", {
  name: UPSTREAM_E2E,
  e2eTest: "[sig-node] Namespaces [Conformance]",
});
const sources: Source[] = [kubectl, nginx, ingress, e2e];
const [A, B, C, D] = [0, 1, 2, 3];

beforeAll(async () => {
  db = await openTestDatabase();
  catalog = sharedCatalog("1.34");
  betaOp = catalog.endpoints.find((endpoint) => endpoint.level === "beta")?.operationId as string;
  alphaOp = catalog.endpoints.find((endpoint) => endpoint.level === "alpha")?.operationId as string;
  await loadRelease(db.prisma, catalog, { origin: "shared/k8s", ineligible, isDefault: true });
  await loadRelease(db.prisma, sharedCatalog("1.33"), { origin: "shared/k8s", ineligible });
  const hit = (
    source: number,
    operationId: string,
    statusClass: HitRollup["statusClass"],
    count: number,
    minute: number,
  ) => ({
    source,
    operationId,
    method: catalog.byOperationId.get(operationId)?.method ?? "GET",
    statusClass,
    minute,
    count,
    details: {},
  });
  await recordBatch(
    db.prisma,
    testBatch({
      sources,
      hits: [
        hit(A, "listCoreV1NamespacedPod", "2xx", 5, M),
        hit(A, "readCoreV1NamespacedPod", "4xx", 2, M),
        hit(B, "listCoreV1NamespacedPod", "2xx", 3, M + 60),
        hit(B, betaOp, "2xx", 1, M + 60),
        hit(C, "createAppsV1NamespacedDeployment", "5xx", 4, M + 120),
        hit(D, "createAppsV1NamespacedDeployment", "2xx", 6, M),
        hit(D, alphaOp, "4xx", 1, M + 120),
      ],
    }),
  );
  // The same client against another release: counted there only; and upstream e2e's coverage of it.
  await recordBatch(
    db.prisma,
    testBatch({
      release: "1.33",
      sources: [kubectl, upstream],
      hits: [hit(0, "listCoreV1NamespacedPod", "2xx", 100, M), hit(1, "readCoreV1Namespace", "2xx", 1, M)],
    }),
  );
}, 120_000);
afterAll(async () => {
  await db?.stop();
});

async function coverage(query: string): Promise<Coverage> {
  const parsed = parseCoverageFilters(new URLSearchParams(query));
  if (!parsed.ok) throw new Error(parsed.error);
  return getCoverage(db.prisma, parsed.filters);
}

/** The tested endpoints of a coverage as operationId -> hits. */
function tested(result: Coverage): Record<string, number> {
  return Object.fromEntries(result.endpoints.filter((e) => e.tested).map((e) => [e.operationId, e.hits]));
}

const at = (minute: number) => new Date(minute * 60_000);

describe("loadRelease and listReleases", () => {
  it("stores every endpoint of the release, watch operations flagged apart", async () => {
    const all = await getCoverage(db.prisma, { outcome: "any" });
    expect(all.release).toBe("1.34");
    expect(all.totals.all.endpoints).toBe(859);
    expect(await db.prisma.endpoint.count({ where: { release: "1.34", watchOperation: true } })).toBe(
      catalog.watchOperations.length,
    );
    const releases = await listReleases(db.prisma);
    expect(releases.map((release) => [release.name, release.isDefault, release.endpoints])).toEqual([
      ["1.34", true, 859],
      ["1.33", false, 843],
    ]);
  });

  it("marks stable, not deprecated, not ineligible endpoints conformance-eligible: apisnoop's 1.35 and 1.36 figures", async () => {
    for (const [release, eligible] of [
      ["1.35", 549],
      ["1.36", 563],
    ] as const) {
      await loadRelease(db.prisma, sharedCatalog(release), { origin: "shared/k8s", ineligible });
      const result = await getCoverage(db.prisma, { release, outcome: "any" });
      expect(result.totals.conformanceEligible.endpoints, release).toBe(eligible);
    }
    await db.prisma.release.deleteMany({ where: { name: { in: ["1.35", "1.36"] } } });
  });

  it("gives a stored release back as the catalog it was stored from, with its ineligible endpoints", async () => {
    const stored = await getReleaseCatalog(db.prisma, "1.34");
    const shape = (endpoints: EndpointCatalog["endpoints"]) =>
      endpoints
        .map((e) => [
          e.operationId,
          e.method,
          e.path,
          e.level,
          e.category,
          e.group,
          e.version,
          e.kind,
          e.deprecated,
        ])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(stored.catalog.release).toBe("1.34");
    expect(shape(stored.catalog.endpoints)).toEqual(shape(catalog.endpoints));
    expect(shape(stored.catalog.watchOperations)).toEqual(shape(catalog.watchOperations));
    expect(stored.catalog.byOperationId.size).toBe(catalog.byOperationId.size);
    const listed = ineligible.filter((entry) => catalog.byOperationId.has(entry.endpoint));
    expect([...stored.ineligible.keys()].sort()).toEqual(listed.map((entry) => entry.endpoint).sort());
    await expect(getReleaseCatalog(db.prisma, "1.99")).rejects.toThrow(NotFoundError);
  });

  it("replaces a release's endpoints when loaded again, and moves the default flag", async () => {
    await loadRelease(db.prisma, sharedCatalog("1.33"), { origin: "again", ineligible, isDefault: true });
    expect(
      (await listReleases(db.prisma)).map((release) => [release.name, release.isDefault, release.origin]),
    ).toEqual([
      ["1.34", false, "shared/k8s"],
      ["1.33", true, "again"],
    ]);
    expect(await db.prisma.endpoint.count({ where: { release: "1.33", watchOperation: false } })).toBe(843);
    await loadRelease(db.prisma, catalog, { origin: "shared/k8s", ineligible, isDefault: true });
  });

  it("loads a release from several processes at once, as web replicas starting together do", async () => {
    const replicas = [db.prisma, createPrismaClient(db.url), createPrismaClient(db.url)];
    const spec = sharedCatalog("1.35");
    try {
      for (let round = 0; round < 2; round++) {
        await Promise.all(
          replicas.map((prisma) => loadRelease(prisma, spec, { origin: "replica", ineligible })),
        );
      }
      expect(await db.prisma.endpoint.count({ where: { release: "1.35", watchOperation: false } })).toBe(863);
    } finally {
      await Promise.all(replicas.slice(1).map((prisma) => prisma.$disconnect()));
      await db.prisma.release.deleteMany({ where: { name: "1.35" } });
    }
  });
});

describe("getCoverage", () => {
  it("counts every endpoint of the release with its hits, sources and first/last seen", async () => {
    const result = await coverage("");
    expect(tested(result)).toEqual({
      listCoreV1NamespacedPod: 8,
      readCoreV1NamespacedPod: 2,
      createAppsV1NamespacedDeployment: 10,
      [betaOp]: 1,
      [alphaOp]: 1,
    });
    const list = result.endpoints.find((e) => e.operationId === "listCoreV1NamespacedPod");
    expect(list).toMatchObject({
      method: "GET",
      path: "/api/v1/namespaces/{namespace}/pods",
      level: "stable",
      category: "core",
      kind: "Pod",
      hits: 8,
      hits2xx: 8,
      sources: 2,
      firstSeen: at(M),
      lastSeen: at(M + 60),
      conformanceEligible: true,
    });
    const create = result.endpoints.find((e) => e.operationId === "createAppsV1NamespacedDeployment");
    expect(create).toMatchObject({
      hits: 10,
      hits2xx: 6,
      sources: 2,
      firstSeen: at(M),
      lastSeen: at(M + 120),
    });
    const untested = result.endpoints.find((e) => !e.tested);
    expect(untested).toMatchObject({ hits: 0, hits2xx: 0, sources: 0, firstSeen: null, lastSeen: null });
    expect(result.totals.all).toEqual({ endpoints: 859, tested: 5, hits: 22 });
    expect(result.totals.byLevel.stable).toMatchObject({ tested: 3, hits: 20 });
    expect(result.totals.byLevel.beta).toMatchObject({ tested: 1, hits: 1 });
    expect(result.totals.byLevel.alpha).toMatchObject({ tested: 1, hits: 1 });
    expect(
      result.totals.byLevel.stable.endpoints +
        result.totals.byLevel.beta.endpoints +
        result.totals.byLevel.alpha.endpoints,
    ).toBe(859);
    expect(result.totals.conformanceEligible).toMatchObject({ tested: 3, hits: 20 });
  });

  it("orders endpoints by level, category and operationId", async () => {
    const result = await coverage("");
    const levels = result.endpoints.map((e) => e.level);
    expect(levels.indexOf("beta")).toBeGreaterThan(levels.lastIndexOf("stable"));
    expect(levels.indexOf("alpha")).toBeGreaterThan(levels.lastIndexOf("beta"));
  });

  it("filters by release", async () => {
    const result = await coverage("release=1.33");
    expect(result.release).toBe("1.33");
    expect(result.totals.all).toEqual({ endpoints: 843, tested: 2, hits: 101 });
    await expect(coverage("release=1.99")).rejects.toThrow(NotFoundError);
  });

  it.each([
    ["release=1.33&upstream=only", { readCoreV1Namespace: 1 }],
    ["release=1.33&upstream=none", { listCoreV1NamespacedPod: 100 }],
    ["release=1.33&upstream=none&userAgent=e2e.test", {}],
    ["upstream=only", {}],
  ])(
    "selects the upstream e2e source alone, or every other one (sources without a name too): %s",
    async (query, expected) => {
      expect(tested(await coverage(query))).toEqual(expected);
    },
  );

  it("leaves nothing out of a release without upstream e2e under upstream=none", async () => {
    expect((await coverage("upstream=none")).totals.all).toEqual((await coverage("")).totals.all);
  });

  it("counts only 2xx hits as tests under outcome=2xx", async () => {
    const result = await coverage("outcome=2xx");
    expect(tested(result)).toEqual({
      listCoreV1NamespacedPod: 8,
      createAppsV1NamespacedDeployment: 10,
      [betaOp]: 1,
    });
    const create = result.endpoints.find((e) => e.operationId === "createAppsV1NamespacedDeployment");
    expect(create).toMatchObject({ hits: 10, hits2xx: 6, sources: 1, firstSeen: at(M), lastSeen: at(M) });
    expect(result.totals.all).toEqual({ endpoints: 859, tested: 3, hits: 22 });
  });

  it.each([
    ["chart=nginx", { listCoreV1NamespacedPod: 3, BETA: 1 }],
    ["chart=nginx-1.2.3", { listCoreV1NamespacedPod: 3, BETA: 1 }],
    ["chart=nginx-ingress", { createAppsV1NamespacedDeployment: 4 }],
    ["chart=ngin", {}],
    ["namespace=default", { listCoreV1NamespacedPod: 5, readCoreV1NamespacedPod: 2 }],
    ["pod=ingress-0", { createAppsV1NamespacedDeployment: 4 }],
    ["serviceAccount=nginx", { listCoreV1NamespacedPod: 3, BETA: 1 }],
    ["userAgent=kubectl", { listCoreV1NamespacedPod: 5, readCoreV1NamespacedPod: 2 }],
    ["userAgent=e2e.test", { createAppsV1NamespacedDeployment: 6, ALPHA: 1 }],
    [
      `e2eTest=${encodeURIComponent("[sig-apps] Deployment should work [Conformance]")}`,
      { createAppsV1NamespacedDeployment: 6, ALPHA: 1 },
    ],
    ["name=conformance-run", { createAppsV1NamespacedDeployment: 6, ALPHA: 1 }],
    ["namespace=web&pod=nginx-0", { listCoreV1NamespacedPod: 3, BETA: 1 }],
    ["namespace=web&pod=ingress-0", {}],
  ])("filters by source: %s", async (query, expected) => {
    const named = Object.fromEntries(
      Object.entries(expected).map(([op, hits]) => [
        op === "BETA" ? betaOp : op === "ALPHA" ? alphaOp : op,
        hits,
      ]),
    );
    const result = await coverage(query);
    expect(tested(result)).toEqual(named);
    expect(result.totals.all.hits).toBe(Object.values(expected).reduce((sum, hits) => sum + hits, 0));
  });

  it.each([
    [
      "from=2026-11-28T13:00:00Z",
      { listCoreV1NamespacedPod: 3, BETA: 1, createAppsV1NamespacedDeployment: 4, ALPHA: 1 },
    ],
    [
      "to=2026-11-28T13:00:00Z",
      { listCoreV1NamespacedPod: 5, readCoreV1NamespacedPod: 2, createAppsV1NamespacedDeployment: 6 },
    ],
    ["from=2026-11-28T12:30:00Z&to=2026-11-28T13:30:00Z", { listCoreV1NamespacedPod: 3, BETA: 1 }],
    // A window starting inside a minute still counts that minute's hits.
    ["from=2026-11-28T13:00:30Z&to=2026-11-28T13:01:00Z", { listCoreV1NamespacedPod: 3, BETA: 1 }],
    ["from=2026-11-28T14:01:00Z", {}],
    ["from=2026-11-28T13:00:00Z&userAgent=controller", { createAppsV1NamespacedDeployment: 4 }],
  ])("filters by time window: %s", async (query, expected) => {
    const named = Object.fromEntries(
      Object.entries(expected).map(([op, hits]) => [
        op === "BETA" ? betaOp : op === "ALPHA" ? alphaOp : op,
        hits,
      ]),
    );
    const result = await coverage(query);
    expect(tested(result)).toEqual(named);
  });

  it("reads the same numbers from per-minute rollups as from all-time totals", async () => {
    const total = await coverage("");
    const windowed = await coverage("from=2000-01-01&to=2100-01-01");
    expect(windowed).toEqual(total);
  });

  it("filters by level", async () => {
    const result = await coverage("level=beta");
    expect(result.endpoints.every((e) => e.level === "beta")).toBe(true);
    expect(result.totals.all.endpoints).toBe(catalog.endpoints.filter((e) => e.level === "beta").length);
    expect(tested(result)).toEqual({ [betaOp]: 1 });
    expect(result.totals.byLevel.stable).toEqual({ endpoints: 0, tested: 0, hits: 0 });
  });

  it.each([
    "",
    "outcome=2xx",
    "level=stable",
    "namespace=default",
    "chart=nginx&outcome=2xx",
    "from=2026-11-28T12:01:00Z",
    "from=2026-11-28T11:00:00Z&to=2026-11-28T12:01:00Z&userAgent=kubectl&outcome=2xx",
  ])("counts the same hits without sources and first/last seen (getCoverageCounts): %s", async (query) => {
    const parsed = parseCoverageFilters(new URLSearchParams(query));
    if (!parsed.ok) throw new Error(parsed.error);
    const full = await getCoverage(db.prisma, parsed.filters);
    const counts = await getCoverageCounts(db.prisma, parsed.filters);
    expect(counts).toEqual({
      ...full,
      endpoints: full.endpoints.map(({ sources, firstSeen, lastSeen, ...rest }) => rest),
    });
    expect(full.totals.all.tested).toBeGreaterThan(0);
  });

  it("uses the default release when none is asked for", async () => {
    const filters: CoverageFilters = { outcome: "any" };
    expect((await getCoverage(db.prisma, filters)).release).toBe("1.34");
  });
});
