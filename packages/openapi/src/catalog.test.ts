import { describe, expect, it } from "vitest";
import { categoryOf } from "./catalog";
import { levelOf } from "./level";
import { SHARED_RELEASES, sharedApisnoopCoverage, sharedCatalog } from "./testing";

/** The published `total endpoints` per release (GUIDE §3). */
const TOTALS: Record<string, number> = {
  "1.28": 706,
  "1.29": 717,
  "1.30": 769,
  "1.31": 770,
  "1.32": 770,
  "1.33": 843,
  "1.34": 859,
  "1.35": 863,
  "1.36": 908,
};

describe.each(SHARED_RELEASES)("endpoint catalog of %s against apisnoop's published coverage", (release) => {
  const catalog = sharedCatalog(release);
  const published = sharedApisnoopCoverage(release);

  it("has apisnoop's endpoint count and set", () => {
    expect(catalog.endpoints).toHaveLength(TOTALS[release] as number);
    expect(published["total endpoints"]).toBe(TOTALS[release]);
    expect(new Set(catalog.endpoints.map((e) => e.operationId))).toEqual(
      new Set(published.endpoints.map((e) => e.endpoint)),
    );
  });

  it("agrees attribute by attribute on every endpoint", () => {
    const ours = new Map(catalog.endpoints.map((e) => [e.operationId, e]));
    const mismatches: string[] = [];
    for (const theirs of published.endpoints) {
      const mine = ours.get(theirs.endpoint);
      if (!mine) continue;
      for (const attribute of [
        "path",
        "level",
        "category",
        "group",
        "version",
        "kind",
        "action",
        "description",
      ] as const) {
        if (mine[attribute] !== theirs[attribute]) {
          mismatches.push(`${theirs.endpoint}.${attribute}: ${mine[attribute]} != ${theirs[attribute]}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it("keeps the deprecated watch operations apart, for matching only", () => {
    expect(catalog.watchOperations.length).toBeGreaterThan(50);
    for (const watch of catalog.watchOperations) expect(watch.action).toMatch(/^watch(list)?$/);
    expect(catalog.endpoints.some((e) => e.watchOperation)).toBe(false);
  });
});

describe("endpoint attributes", () => {
  const catalog = sharedCatalog("1.34");

  it("records the body and response schema refs for field coverage", () => {
    const create = catalog.byOperationId.get("createAppsV1NamespacedDeployment");
    expect(create?.requestBodyRef).toBe("#/definitions/io.k8s.api.apps.v1.Deployment");
    expect(create?.responseRefs["201"]).toBe("#/definitions/io.k8s.api.apps.v1.Deployment");
    expect(catalog.byOperationId.get("listCoreV1NamespacedPod")?.responseRefs["200"]).toBe(
      "#/definitions/io.k8s.api.core.v1.PodList",
    );
    expect(catalog.byOperationId.get("readCoreV1NamespacedPod")?.requestBodyRef).toBeNull();
    expect(catalog.definitions["io.k8s.api.core.v1.Pod"]?.properties?.spec?.$ref).toBe(
      "#/definitions/io.k8s.api.core.v1.PodSpec",
    );
  });

  it("marks deprecated operations from their description", () => {
    // In 1.28–1.36 only the /watch/ operations say "deprecated" in their own description.
    expect(catalog.byOperationId.get("watchCoreV1NamespacedPodList")?.deprecated).toBe(true);
    expect(catalog.byOperationId.get("readCoreV1NamespacedPod")?.deprecated).toBe(false);
    expect(catalog.watchOperations.every((e) => e.deprecated)).toBe(true);
  });

  it("derives level and category as apisnoop does", () => {
    expect(levelOf("x", "/apis/resource.k8s.io/v1alpha3/devicetaintrules")).toBe("alpha");
    expect(levelOf("x", "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas")).toBe("beta");
    expect(levelOf("getServiceAccountIssuerOpenIDKeyset", "/openid/v1/jwks/")).toBe("beta");
    expect(levelOf("readCoreV1Namespace", "/api/v1/namespaces/{name}")).toBe("stable");
    expect(categoryOf(["flowcontrolApiserver_v1"])).toBe("flowcontrolApiserver");
    expect(categoryOf(["core_v1"])).toBe("core");
    expect(categoryOf(["logs"])).toBe("logs");
    expect(categoryOf(undefined)).toBe("");
  });
});
