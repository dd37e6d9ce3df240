import { readFileSync } from "node:fs";
import path from "node:path";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "./database";
import { NotFoundError } from "./errors";
import { type CoverageFilters, parseCoverageFilters } from "./filters";
import { MIGRATIONS_DIR } from "./migrate";
import { getPriorities } from "./priorities";
import { recordBatch } from "./record-batch";
import { loadRelease } from "./releases";
import { epochMinute, openTestDatabase, prioritiesBatch, testBatch, testSource } from "./testing";
import { workloadFilters } from "./workloads";

let db: Database;
const M = epochMinute("2026-11-28T12:00:00Z");

beforeAll(async () => {
  db = await openTestDatabase();
  await loadRelease(db.prisma, sharedCatalog("1.34"), { origin: "shared/k8s", isDefault: true });
  await recordBatch(db.prisma, prioritiesBatch(M));
}, 120_000);

afterAll(async () => {
  await db?.stop();
});

function filters(query: string): CoverageFilters {
  const parsed = parseCoverageFilters(new URLSearchParams(query), {
    now: () => new Date((M + 30) * 60_000),
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.filters;
}

/** Rows as [operationId, workloads, hits, workload names] for exact comparison. */
const ranked = (
  rows: Array<{ operationId: string; workloads: number; hits: number; workloadNames: string[] }>,
) => rows.map((row) => [row.operationId, row.workloads, row.hits, row.workloadNames]);

const POD = "io.k8s.api.core.v1.Pod";
const SECRET = "io.k8s.api.core.v1.Secret";

describe("getPriorities", () => {
  it("ranks the endpoints workloads call that no conformance test hits by workloads, then hits", async () => {
    const priorities = await getPriorities(db.prisma, filters(""));
    expect(priorities.release).toBe("1.34");
    expect(ranked(priorities.endpoints)).toEqual([
      [
        "readCoreV1NamespacedConfigMap",
        4,
        17,
        ["chart ingress-nginx", "chart cert-manager", "chart prometheus", "kubectl"],
      ],
      ["createCoreV1NamespacedSecret", 3, 10, ["sa ops/deployer", "chart cert-manager", "chart prometheus"]],
      ["listCoordinationV1NamespacedLease", 2, 42, ["chart ingress-nginx", "namespace kube-system"]],
      ["listResourceV1beta1DeviceClass", 2, 2, ["chart cert-manager", "chart prometheus"]],
      ["listCoreV1Namespace", 1, 1, ["namespace kube-system"]],
      ["listStorageV1alpha1VolumeAttributesClass", 1, 1, ["chart ingress-nginx"]],
      ["patchAppsV1NamespacedDeployment", 1, 1, ["chart prometheus"]],
    ]);
    expect(priorities.endpoints.every((row) => row.conformanceTested === false)).toBe(true);
    const byId = new Map(priorities.endpoints.map((row) => [row.operationId, row]));
    // Another e2e test (or the suite's own set-up calls) already hits these two.
    expect(priorities.endpoints.filter((row) => row.e2eTested).map((row) => row.operationId)).toEqual([
      "listCoreV1Namespace",
      "patchAppsV1NamespacedDeployment",
    ]);
    expect(byId.get("readCoreV1NamespacedConfigMap")).toMatchObject({
      level: "stable",
      conformanceEligible: true,
      method: "GET",
      path: "/api/v1/namespaces/{namespace}/configmaps/{name}",
      kind: "ConfigMap",
    });
    expect(byId.get("listResourceV1beta1DeviceClass")).toMatchObject({
      level: "beta",
      conformanceEligible: false,
    });
    expect(priorities.totals).toEqual({
      workloads: 6,
      endpoints: 7,
      eligibleEndpoints: 5,
      fields: 6,
      promotionWatch: 2,
    });
    expect(
      priorities.workloads.map((w) => [w.name, w.untestedEligible, w.untestedEndpoints, w.endpoints]),
    ).toEqual([
      ["chart prometheus", 3, 4, 5],
      ["chart cert-manager", 2, 3, 4],
      ["chart ingress-nginx", 2, 3, 4],
      ["namespace kube-system", 2, 2, 2],
      ["kubectl", 1, 1, 3],
      ["sa ops/deployer", 1, 1, 2],
    ]);
    expect(priorities.workloads[0]?.filters).toEqual({ chart: "prometheus" });
    expect(priorities.conformance).toEqual({
      runTests: 1,
      publishedTests: 1,
      endpointsTested: 2,
      endpointsWithFields: 1,
    });
  });

  it("lists alpha and beta endpoints workloads depend on, tested or not", async () => {
    const { promotionWatch } = await getPriorities(db.prisma, filters(""));
    expect(ranked(promotionWatch)).toEqual([
      ["listResourceV1beta1DeviceClass", 2, 2, ["chart cert-manager", "chart prometheus"]],
      ["listStorageV1alpha1VolumeAttributesClass", 1, 1, ["chart ingress-nginx"]],
    ]);
  });

  it("ranks field gaps the same way, per endpoint and direction, leaving out unknown fields", async () => {
    const { fields } = await getPriorities(db.prisma, filters(""));
    expect(
      fields.map((row) => [
        row.operationId,
        row.direction,
        row.field,
        row.workloads,
        row.hits,
        row.endpointConformanceTested,
        row.conformanceBodiesRecorded,
      ]),
    ).toEqual([
      ["createCoreV1NamespacedSecret", "request", `${SECRET}:stringData`, 3, 6, false, false],
      ["listCoreV1NamespacedPod", "response", `${POD}:status.podIP`, 2, 6, true, true],
      ["listCoreV1NamespacedPod", "response", `${POD}:metadata.ownerReferences[]`, 2, 3, true, true],
      ["createCoreV1NamespacedSecret", "request", `${SECRET}:stringData{}`, 2, 2, false, false],
      // Tested by the published data alone, which has no bodies: a gap nobody can rule out.
      [
        "readCoreV1Node",
        "response",
        "io.k8s.api.core.v1.Node:status.nodeInfo.kubeletVersion",
        1,
        3,
        true,
        false,
      ],
      ["listCoreV1NamespacedPod", "response", `${POD}:metadata.labels`, 1, 1, true, true],
    ]);
    expect(fields[1]?.workloadNames).toEqual(["chart ingress-nginx", "chart cert-manager"]);
    expect(fields[4]?.workloadNames).toEqual(["kubectl"]);
  });

  it("follows the time window, the outcome, the source filters and the level", async () => {
    // The deployer called three hours before the window.
    const recent = await getPriorities(db.prisma, filters("from=1h"));
    expect(ranked(recent.endpoints).slice(0, 2)).toEqual([
      [
        "readCoreV1NamespacedConfigMap",
        4,
        17,
        ["chart ingress-nginx", "chart cert-manager", "chart prometheus", "kubectl"],
      ],
      ["listCoordinationV1NamespacedLease", 2, 42, ["chart ingress-nginx", "namespace kube-system"]],
    ]);
    expect(ranked(recent.endpoints).find(([id]) => id === "createCoreV1NamespacedSecret")).toEqual([
      "createCoreV1NamespacedSecret",
      2,
      4,
      ["chart cert-manager", "chart prometheus"],
    ]);
    expect(recent.totals.workloads).toBe(5);
    // The fields each workload active in the window uses on the endpoints it called in it, counted over
    // all time: the deployer is out, kubectl read nodes in it (with 1.34; 1.33's reads count too).
    expect(recent.fields.map((row) => [row.field, row.workloads, row.hits])).toEqual([
      [`${POD}:status.podIP`, 2, 6],
      [`${SECRET}:stringData`, 2, 2],
      [`${SECRET}:stringData{}`, 2, 2],
      ["io.k8s.api.core.v1.Node:status.nodeInfo.kubeletVersion", 1, 3],
      [`${POD}:metadata.ownerReferences[]`, 1, 2],
      [`${POD}:metadata.labels`, 1, 1],
    ]);
    // With a source filter, the selected sources' own fields: kubectl 1.33 did not read nodes.
    const kubectl = await getPriorities(db.prisma, filters("from=1h&userAgent=kubectl"));
    expect(kubectl.fields.map((row) => [row.field, row.workloads, row.hits])).toEqual([
      ["io.k8s.api.core.v1.Node:status.nodeInfo.kubeletVersion", 1, 2],
    ]);
    // A window that holds all the data is the whole release, read from the totals per workload.
    expect(await getPriorities(db.prisma, filters("from=0"))).toEqual(
      await getPriorities(db.prisma, filters("")),
    );
    const early = await getPriorities(
      db.prisma,
      filters(
        `from=${new Date((M - 200) * 60_000).toISOString()}&to=${new Date((M - 100) * 60_000).toISOString()}`,
      ),
    );
    expect(ranked(early.endpoints)).toEqual([["createCoreV1NamespacedSecret", 1, 6, ["sa ops/deployer"]]]);

    // kubectl's calls of readCoreV1NamespacedConfigMap failed.
    const ok = await getPriorities(db.prisma, filters("outcome=2xx"));
    expect(ranked(ok.endpoints)[0]).toEqual([
      "readCoreV1NamespacedConfigMap",
      3,
      15,
      ["chart ingress-nginx", "chart cert-manager", "chart prometheus"],
    ]);

    const certManager = await getPriorities(db.prisma, filters("chart=cert-manager"));
    expect(ranked(certManager.endpoints)).toEqual([
      ["readCoreV1NamespacedConfigMap", 1, 3, ["chart cert-manager"]],
      ["createCoreV1NamespacedSecret", 1, 2, ["chart cert-manager"]],
      ["listResourceV1beta1DeviceClass", 1, 1, ["chart cert-manager"]],
    ]);
    expect(certManager.fields.map((row) => row.field)).toEqual([
      `${SECRET}:stringData`,
      `${SECRET}:stringData{}`,
      `${POD}:metadata.labels`,
      `${POD}:status.podIP`,
    ]);

    const beta = await getPriorities(db.prisma, filters("level=beta"));
    expect(beta.endpoints.map((row) => row.operationId)).toEqual(["listResourceV1beta1DeviceClass"]);
    expect(beta.promotionWatch.map((row) => row.operationId)).toEqual(["listResourceV1beta1DeviceClass"]);
    expect(beta.fields).toEqual([]);

    // A source filter that selects only e2e tests selects no workload.
    const tests = await getPriorities(db.prisma, filters("e2eTest=[sig-apps] Deployment should roll over"));
    expect(tests.endpoints).toEqual([]);
    expect(tests.totals.workloads).toBe(0);
  });

  it("holds each list to the limit and counts them all", async () => {
    const limited = await getPriorities(db.prisma, filters(""), { limit: 2 });
    expect(limited.endpoints.map((row) => row.operationId)).toEqual([
      "readCoreV1NamespacedConfigMap",
      "createCoreV1NamespacedSecret",
    ]);
    expect(limited.fields).toHaveLength(2);
    expect(limited.totals).toMatchObject({ endpoints: 7, fields: 6 });
  });

  it("stops listing what a new conformance test covers", async () => {
    const scratch = await openTestDatabase();
    try {
      await loadRelease(scratch.prisma, sharedCatalog("1.34"), { origin: "shared/k8s", isDefault: true });
      await recordBatch(scratch.prisma, prioritiesBatch(M));
      const test = testSource(
        "e2e.test/v1.34.4 -- [sig-storage] ConfigMap should be consumable [Conformance]",
      );
      await recordBatch(
        scratch.prisma,
        testBatch({
          sources: [test],
          hits: [
            {
              source: 0,
              operationId: "readCoreV1NamespacedConfigMap",
              method: "GET",
              statusClass: "2xx",
              minute: M,
              count: 1,
              details: {},
            },
          ],
          fields: [
            {
              source: 0,
              operationId: "createCoreV1NamespacedSecret",
              direction: "request",
              field: `${SECRET}:stringData`,
              unknown: false,
              hour: Math.floor(M / 60),
              count: 1,
            },
          ],
        }),
      );
      const after = await getPriorities(scratch.prisma, filters(""));
      expect(after.endpoints[0]?.operationId).toBe("createCoreV1NamespacedSecret");
      expect(after.endpoints.some((row) => row.operationId === "readCoreV1NamespacedConfigMap")).toBe(false);
      expect(after.fields[0]?.field).toBe(`${POD}:status.podIP`);
      expect(after.conformance.runTests).toBe(2);
    } finally {
      await scratch.stop();
    }
  });

  it("counts the same whether the hits come in one batch or many, and after the migration's backfill", async () => {
    const expected = await getPriorities(db.prisma, filters(""));
    const scratch = await openTestDatabase();
    try {
      await loadRelease(scratch.prisma, sharedCatalog("1.34"), { origin: "shared/k8s", isDefault: true });
      // Each row in its own batch, the fields first: every workload and field is seen again and again.
      const whole = prioritiesBatch(M);
      for (const part of [
        ...whole.fields.map((f) => ({ fields: [f] })),
        ...whole.hits.map((h) => ({ hits: [h] })),
      ]) {
        await recordBatch(scratch.prisma, testBatch({ sources: whole.sources, ...part }));
      }
      expect(await getPriorities(scratch.prisma, filters(""))).toEqual(expected);
      // What a database that had the hits before these tables existed gets from the migration.
      const migration = readFileSync(
        path.join(MIGRATIONS_DIR, "20261129120000_workload_field_totals", "migration.sql"),
        "utf8",
      );
      const backfill = migration
        .replace(/--[^\n]*\n/g, "")
        .split(";")
        .map((statement) => statement.trim())
        .filter((statement) => /^(UPDATE|INSERT)/.test(statement));
      expect(backfill).toHaveLength(6);
      await scratch.prisma.$executeRawUnsafe(
        `TRUNCATE "FieldTotal", "WorkloadFieldTotal", "FieldUse", "WorkloadHitTotal"`,
      );
      await scratch.prisma.$executeRawUnsafe(`UPDATE "Source" SET "workload" = 'stale'`);
      for (const statement of backfill) await scratch.prisma.$executeRawUnsafe(statement);
      expect(await getPriorities(scratch.prisma, filters(""))).toEqual(expected);
      expect(await getPriorities(scratch.prisma, filters("chart=cert-manager"))).toEqual(
        await getPriorities(db.prisma, filters("chart=cert-manager")),
      );
    } finally {
      await scratch.stop();
    }
  });

  it("throws NotFoundError for a release that is not loaded", async () => {
    await expect(getPriorities(db.prisma, filters("release=1.20"))).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("workloads", () => {
  it("selects a workload's sources with the dashboard's filters", () => {
    expect(workloadFilters("chart ingress-nginx")).toEqual({ chart: "ingress-nginx" });
    expect(workloadFilters("sa ops/deployer")).toEqual({ namespace: "ops", serviceAccount: "deployer" });
    expect(workloadFilters("namespace kube-system")).toEqual({ namespace: "kube-system" });
    expect(workloadFilters("kubectl")).toEqual({ userAgent: "kubectl" });
    expect(workloadFilters("(no user agent)")).toBeNull();
  });

  it("is stored with each source at ingest", async () => {
    const rows = await db.prisma.source.findMany({
      select: { userAgent: true, workload: true, chart: true },
    });
    const byAgent = new Map(rows.map((row) => [`${row.userAgent} ${row.chart}`, row.workload]));
    expect(byAgent.get("nginx-ingress-controller/v1.11.0 ingress-nginx-4.11.0")).toBe("chart ingress-nginx");
    expect(byAgent.get("kubectl/v1.33.1 (linux/amd64) kubernetes/def null")).toBe("kubectl");
    expect(byAgent.get("e2e.test/v1.34.4 (linux/amd64) kubernetes/abc null")).toBeNull();
  });
});
