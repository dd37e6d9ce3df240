import { readFileSync } from "node:fs";
import path from "node:path";
import { SHARED_K8S, sharedCatalog } from "@apisnoop/openapi/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getConformance } from "./conformance";
import type { Database } from "./database";
import { NotFoundError } from "./errors";
import { recordBatch } from "./record-batch";
import { type IneligibleEndpoint, loadRelease } from "./releases";
import { epochMinute, openTestDatabase, testBatch, testSource } from "./testing";

let db: Database;
const ineligible: IneligibleEndpoint[] = JSON.parse(
  readFileSync(path.join(SHARED_K8S, "apisnoop", "ineligible_endpoints.json"), "utf8"),
);
const conformanceTest = testSource("e2e.test/v1.34.0 -- [sig-node] Pods should get a pod [Conformance]", {
  name: "upstream-e2e",
});
const plainTest = testSource("e2e.test/v1.34.0 -- [sig-node] Pods should list pods", {
  name: "upstream-e2e",
});
const someoneElse = testSource("e2e.test/v1.34.0 -- [sig-node] Nodes [Conformance]", { name: "my-run" });

beforeAll(async () => {
  db = await openTestDatabase();
  await loadRelease(db.prisma, sharedCatalog("1.34"), { origin: "shared/k8s", ineligible, isDefault: true });
  const minute = epochMinute("2026-11-28T12:00:00Z");
  const hit = (source: number, operationId: string) => ({
    source,
    operationId,
    method: "GET",
    statusClass: "2xx" as const,
    minute,
    count: 1,
    details: {},
  });
  await recordBatch(
    db.prisma,
    testBatch({
      sources: [conformanceTest, plainTest, someoneElse],
      hits: [
        hit(0, "readCoreV1NamespacedPod"),
        hit(1, "readCoreV1NamespacedPod"),
        hit(1, "listCoreV1NamespacedPod"),
        hit(2, "listCoreV1Node"),
      ],
    }),
  );
}, 120_000);

afterAll(async () => {
  await db?.stop();
});

describe("getConformance", () => {
  it("marks what the named sources hit, and what their conformance tests hit", async () => {
    const { release, endpoints } = await getConformance(db.prisma);
    expect(release).toBe("1.34");
    expect(endpoints).toHaveLength(sharedCatalog("1.34").endpoints.length);
    const byId = new Map(endpoints.map((e) => [e.operationId, e]));
    expect(byId.get("readCoreV1NamespacedPod")).toMatchObject({ tested: true, conformanceTested: true });
    expect(byId.get("listCoreV1NamespacedPod")).toMatchObject({ tested: true, conformanceTested: false });
    // Another source's conformance run is not upstream e2e.
    expect(byId.get("listCoreV1Node")).toMatchObject({ tested: false, conformanceTested: false });
    expect(endpoints.filter((e) => e.tested)).toHaveLength(2);
    const mine = await getConformance(db.prisma, { release: "1.34", sourceName: "my-run" });
    expect(mine.endpoints.filter((e) => e.conformanceTested).map((e) => e.operationId)).toEqual([
      "listCoreV1Node",
    ]);
  });

  it("carries eligibility and the ineligible list's reasons as stored", async () => {
    const { endpoints } = await getConformance(db.prisma, { release: "1.34" });
    const listed = ineligible.find((entry) => endpoints.some((e) => e.operationId === entry.endpoint));
    const row = endpoints.find((e) => e.operationId === listed?.endpoint);
    expect(row).toMatchObject({ conformanceEligible: false, ineligibleReason: listed?.reason });
    expect(endpoints.some((e) => e.conformanceEligible && e.ineligibleReason === null)).toBe(true);
  });

  it("refuses a release that is not loaded", async () => {
    await expect(getConformance(db.prisma, { release: "1.20" })).rejects.toBeInstanceOf(NotFoundError);
  });
});
