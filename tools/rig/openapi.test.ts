/**
 * The rig's /openapi/v2, loaded by packages/openapi, against the published v1.34 swagger
 * (../shared/k8s/openapi/v1.34.swagger.json.gz): same endpoint catalog except the differences listed here.
 */
import { join } from "node:path";
import { buildCatalog, type EndpointCatalog, loadSpec } from "@apisnoop/openapi";
import { beforeAll, describe, expect, it } from "vitest";
import { repoRoot, rigKubeconfigPath } from "./rig";

const PUBLISHED = join(repoRoot, "..", "shared", "k8s", "openapi", "v1.34.swagger.json.gz");

/**
 * Endpoints (`METHOD path operationId`) in which the rig and the published spec differ, with the reason.
 * Keep this list explicit: a new difference fails the test until it is understood and listed.
 */
const EXPECTED_ONLY_IN_RIG: Record<string, string> = {};
const EXPECTED_ONLY_IN_PUBLISHED: Record<string, string> = {};

function keys(catalog: EndpointCatalog): Set<string> {
  return new Set(catalog.endpoints.map((e) => `${e.method} ${e.path} ${e.operationId}`));
}

describe("the rig's /openapi/v2 against the published v1.34 spec", () => {
  let rig: EndpointCatalog;
  let published: EndpointCatalog;

  beforeAll(async () => {
    const live = await loadSpec("live", { kubeconfig: rigKubeconfigPath("admin") });
    rig = buildCatalog(live.spec, live.release);
    const file = await loadSpec(PUBLISHED);
    published = buildCatalog(file.spec, file.release);
  });

  it("serves release 1.34 and the published endpoint count is apisnoop's 859", () => {
    expect(rig.release).toBe("1.34");
    expect(published.endpoints).toHaveLength(859);
  });

  it("has the same endpoints (operationId + method + path) except the listed differences", () => {
    const rigKeys = keys(rig);
    const publishedKeys = keys(published);
    const onlyInRig = [...rigKeys].filter((k) => !publishedKeys.has(k)).sort();
    const onlyInPublished = [...publishedKeys].filter((k) => !rigKeys.has(k)).sort();
    expect(onlyInRig).toEqual(Object.keys(EXPECTED_ONLY_IN_RIG).sort());
    expect(onlyInPublished).toEqual(Object.keys(EXPECTED_ONLY_IN_PUBLISHED).sort());
  });

  it("agrees on each shared endpoint's level, category, group/version/kind and action", () => {
    const mismatches: string[] = [];
    for (const endpoint of rig.endpoints) {
      const other = published.byOperationId.get(endpoint.operationId);
      if (!other) continue;
      for (const field of [
        "level",
        "category",
        "group",
        "version",
        "kind",
        "action",
        "deprecated",
      ] as const) {
        if (endpoint[field] !== other[field]) {
          mismatches.push(
            `${endpoint.operationId}.${field}: rig ${endpoint[field]} published ${other[field]}`,
          );
        }
      }
    }
    expect(mismatches).toEqual([]);
  });
});
