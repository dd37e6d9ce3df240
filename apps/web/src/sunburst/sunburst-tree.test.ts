import { sharedCatalog } from "@apisnoop/openapi/testing";
import { describe, expect, it } from "vitest";
import {
  buildSunburstTree,
  coverageOf,
  pathTo,
  type SunburstEndpoint,
  type SunburstNode,
} from "./sunburst-tree";

function endpointsOf(release: string, hit: (operationId: string) => number = () => 0): SunburstEndpoint[] {
  return sharedCatalog(release).endpoints.map((e) => ({
    operationId: e.operationId,
    method: e.method,
    path: e.path,
    level: e.level,
    category: e.category,
    kind: e.kind,
    deprecated: e.deprecated,
    hits: hit(e.operationId),
    upstreamTested: null,
  }));
}

function leaves(node: SunburstNode): SunburstNode[] {
  return node.endpoint ? [node] : node.children.flatMap(leaves);
}

describe("buildSunburstTree", () => {
  it("has one leaf per endpoint of the release, under level -> category -> kind", () => {
    const tree = buildSunburstTree(endpointsOf("1.34"));
    expect(leaves(tree)).toHaveLength(859);
    expect(tree.endpoints).toBe(859);
    expect(tree.children.map((c) => c.name)).toEqual(["stable", "beta", "alpha"]);
    const pods = pathTo(tree, "stable/core/Pod/listCoreV1NamespacedPod");
    expect(pods.map((n) => n.ring)).toEqual(["root", "level", "category", "kind", "endpoint"]);
    expect(pods.map((n) => n.name)).toEqual(["all", "stable", "core", "Pod", "listCoreV1NamespacedPod"]);
    // Largest category first within a level, as apisnoop draws it.
    expect(tree.children[0]?.children[0]?.name).toBe("core");
    expect(new Set(leaves(tree).map((n) => n.id)).size).toBe(859);
  });

  it("counts hit endpoints and hits at every ring", () => {
    const hits = new Map([
      ["listCoreV1NamespacedPod", 5],
      ["readCoreV1Namespace", 2],
    ]);
    const tree = buildSunburstTree(endpointsOf("1.34", (id) => hits.get(id) ?? 0));
    expect(tree).toMatchObject({ hitEndpoints: 2, hits: 7 });
    const core = pathTo(tree, "stable/core")[2];
    expect(core).toMatchObject({ hitEndpoints: 2, hits: 7 });
    expect(pathTo(tree, "beta")[1]).toMatchObject({ hitEndpoints: 0, hits: 0 });
    expect(coverageOf(tree)).toBeCloseTo(2 / 859);
    expect(coverageOf({ endpoints: 0, hitEndpoints: 0 })).toBe(0);
  });

  it("keeps arcs in place when hits arrive", () => {
    const before = leaves(buildSunburstTree(endpointsOf("1.34"))).map((n) => n.id);
    const after = leaves(buildSunburstTree(endpointsOf("1.34", (id) => (id.startsWith("list") ? 1 : 0)))).map(
      (n) => n.id,
    );
    expect(after).toEqual(before);
  });

  it("finds nothing for an unknown id", () => {
    expect(pathTo(buildSunburstTree(endpointsOf("1.34")), "stable/nope")).toEqual([]);
  });
});
