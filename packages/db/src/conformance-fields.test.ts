import { readFileSync } from "node:fs";
import path from "node:path";
import { FieldSchema, requestSchemaRef } from "@apisnoop/openapi";
import { SHARED_K8S, sharedCatalog } from "@apisnoop/openapi/testing";
import type { FieldCount, HitRollup, Source } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getConformanceFieldCoverage } from "./conformance";
import type { Database } from "./database";
import { recordBatch } from "./record-batch";
import { type IneligibleEndpoint, loadRelease } from "./releases";
import { epochMinute, openTestDatabase, testBatch, testSource } from "./testing";

let db: Database;
const catalog = sharedCatalog("1.34");
const ineligible: IneligibleEndpoint[] = JSON.parse(
  readFileSync(path.join(SHARED_K8S, "apisnoop", "ineligible_endpoints.json"), "utf8"),
);
const CONFIG_MAP = "io.k8s.api.core.v1.ConfigMap";
const M = epochMinute("2026-11-28T12:00:00Z");

const sources: Source[] = [
  testSource(
    "e2e.test/v1.34.4 (linux/amd64) kubernetes/abc -- [sig-node] ConfigMap should be created [Conformance]",
  ),
  testSource(
    "e2e.test/v1.34.5 (linux/amd64) kubernetes/def -- [sig-node] ConfigMap should be immutable [Conformance]",
    {
      name: "my-run",
    },
  ),
  testSource("e2e.test -- [sig-node] ConfigMap should be replaced [Conformance]", { name: "upstream-e2e" }),
  testSource("my-operator/1.0", { chart: "my-operator-1.0.0", namespace: "ops" }),
];

beforeAll(async () => {
  db = await openTestDatabase();
  await loadRelease(db.prisma, catalog, { origin: "shared/k8s", ineligible, isDefault: true });
  const hit = (source: number, operationId: string, minute: number): HitRollup => ({
    source,
    operationId,
    method: "POST",
    statusClass: "2xx",
    minute,
    count: 1,
    details: {},
  });
  const field = (
    source: number,
    path: string,
    direction: FieldCount["direction"] = "request",
    unknown = false,
  ) => ({
    source,
    operationId: "createCoreV1NamespacedConfigMap",
    direction,
    field: `${CONFIG_MAP}:${path}`,
    unknown,
    hour: Math.floor(M / 60),
    count: 1,
  });
  await recordBatch(
    db.prisma,
    testBatch({
      sources,
      hits: [
        hit(0, "createCoreV1NamespacedConfigMap", M),
        hit(1, "createCoreV1NamespacedConfigMap", M + 5),
        hit(2, "replaceCoreV1NamespacedConfigMap", M),
        hit(3, "createCoreV1NamespacedConfigMap", M),
      ],
      fields: [
        field(0, "metadata"),
        field(0, "metadata.name"),
        field(0, "data"),
        field(0, "data{}"),
        field(0, "dataz", "request", true),
        field(0, "binaryData", "response"),
        field(1, "data"),
        field(1, "immutable"),
        // A workload's bodies are no conformance coverage.
        field(3, "binaryData"),
      ],
    }),
  );
}, 120_000);

afterAll(async () => {
  await db?.stop();
});

describe("getConformanceFieldCoverage", () => {
  it("gives the share of each eligible endpoint's request-schema fields that conformance runs sent", async () => {
    const coverage = await getConformanceFieldCoverage(db.prisma);
    const schema = new FieldSchema(catalog.definitions);
    const configMapFields = schema.schemaFields(CONFIG_MAP).length;
    expect(coverage.endpoints[0]).toEqual({
      operationId: "createCoreV1NamespacedConfigMap",
      method: "POST",
      path: "/api/v1/namespaces/{namespace}/configmaps",
      kind: "ConfigMap",
      definition: CONFIG_MAP,
      schemaFields: configMapFields,
      sent: 5,
      testedByRun: true,
    });
    // Published data (the replace) has endpoints, never fields.
    expect(
      coverage.endpoints.find((row) => row.operationId === "replaceCoreV1NamespacedConfigMap"),
    ).toMatchObject({
      sent: 0,
      testedByRun: false,
    });
    const isIneligible = new Set(ineligible.map((entry) => entry.endpoint));
    const eligible = catalog.endpoints.filter(
      (e) => e.level === "stable" && !e.deprecated && !isIneligible.has(e.operationId),
    );
    const withBody = eligible.filter((e) => requestSchemaRef(e) !== null);
    expect(coverage.totals).toEqual({
      eligible: eligible.length,
      eligibleTestedByRun: 1,
      withBody: withBody.length,
      schemaFields: withBody.reduce(
        (sum, e) => sum + schema.schemaFields(requestSchemaRef(e) as string).length,
        0,
      ),
      sent: 5,
    });
    expect(coverage.schemasStored).toBe(true);
  });

  it("names the runs the figures come from", async () => {
    const { runs } = await getConformanceFieldCoverage(db.prisma, { release: "1.34" });
    expect(runs).toEqual([
      {
        name: "my-run",
        userAgent: "e2e.test/v1.34.5 (linux/amd64) kubernetes/def",
        tests: 1,
        endpoints: 1,
        requestFields: true,
        firstSeen: new Date((M + 5) * 60_000),
        lastSeen: new Date((M + 5) * 60_000),
      },
      {
        name: null,
        userAgent: "e2e.test/v1.34.4 (linux/amd64) kubernetes/abc",
        tests: 1,
        endpoints: 1,
        requestFields: true,
        firstSeen: new Date(M * 60_000),
        lastSeen: new Date(M * 60_000),
      },
    ]);
  });
});
