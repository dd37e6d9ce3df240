import type { EndpointHeadline } from "@apisnoop/openapi";
import { LEVELS, type Level } from "@apisnoop/openapi/level";

/** What the sunburst needs of one endpoint: where it sits, and whether the selection hit it. */
export interface SunburstEndpoint extends EndpointHeadline {
  /** Hits under the page's filters. */
  hits: number;
  /** Tested by upstream e2e, per apisnoop's published coverage (null when that data is not imported). */
  upstreamTested: boolean | null;
}

export type SunburstRing = "root" | "level" | "category" | "kind" | "endpoint";

/** One arc: a level, a category within it, a kind within that, or an endpoint. */
export interface SunburstNode {
  /** Unique and stable across updates: `stable/core/Pod/listCoreV1NamespacedPod`. */
  id: string;
  name: string;
  ring: SunburstRing;
  level: Level | null;
  /** Endpoints under this arc. */
  endpoints: number;
  /** Endpoints under this arc with at least one hit. */
  hitEndpoints: number;
  /** Sum of hits under this arc. */
  hits: number;
  children: SunburstNode[];
  endpoint: SunburstEndpoint | null;
}

/** Inner-to-outer order of the levels, as apisnoop draws them. */

/** Kind label of endpoints without a group/version/kind (discovery, logs, version, ...). */
export const NO_KIND = "(no kind)";

/**
 * Groups endpoints into the sunburst's hierarchy: level -> category -> kind -> endpoint. Levels keep
 * apisnoop's order; categories and kinds are ordered by size (largest first); endpoints by operationId,
 * so arcs never move when hits arrive.
 */
export function buildSunburstTree(endpoints: readonly SunburstEndpoint[]): SunburstNode {
  const root = node("", "all", "root", null);
  const byLevel = new Map<string, SunburstNode>();
  for (const level of LEVELS) byLevel.set(level, node(level, level, "level", level));
  const index = new Map<string, SunburstNode>();
  for (const endpoint of endpoints) {
    const levelNode = byLevel.get(endpoint.level);
    if (!levelNode) continue;
    const categoryId = `${endpoint.level}/${endpoint.category}`;
    const categoryNode = child(index, levelNode, categoryId, endpoint.category || "(none)", "category");
    const kind = endpoint.kind ?? NO_KIND;
    const kindNode = child(index, categoryNode, `${categoryId}/${kind}`, kind, "kind");
    const leaf = node(
      `${categoryId}/${kind}/${endpoint.operationId}`,
      endpoint.operationId,
      "endpoint",
      endpoint.level,
    );
    leaf.endpoint = endpoint;
    kindNode.children.push(leaf);
  }
  root.children = [...byLevel.values()].filter((levelNode) => levelNode.children.length > 0);
  sortAndCount(root);
  return root;
}

/** Every node from the root down to and including the node with `id` (empty when there is none). */
export function pathTo(root: SunburstNode, id: string): SunburstNode[] {
  const trail: SunburstNode[] = [root];
  if (id === root.id) return trail;
  let current = root;
  for (;;) {
    const next = current.children.find((c) => id === c.id || id.startsWith(`${c.id}/`));
    if (!next) return [];
    trail.push(next);
    if (next.id === id) return trail;
    current = next;
  }
}

/** Share of endpoints hit, 0..1 (0 for an empty arc). */
export function coverageOf(node: Pick<SunburstNode, "endpoints" | "hitEndpoints">): number {
  return node.endpoints === 0 ? 0 : node.hitEndpoints / node.endpoints;
}

function node(id: string, name: string, ring: SunburstRing, level: Level | null): SunburstNode {
  return { id, name, ring, level, endpoints: 0, hitEndpoints: 0, hits: 0, children: [], endpoint: null };
}

function child(
  index: Map<string, SunburstNode>,
  parent: SunburstNode,
  id: string,
  name: string,
  ring: SunburstRing,
): SunburstNode {
  let found = index.get(id);
  if (!found) {
    found = node(id, name, ring, parent.level);
    index.set(id, found);
    parent.children.push(found);
  }
  return found;
}

function sortAndCount(current: SunburstNode): void {
  if (current.endpoint) {
    current.endpoints = 1;
    current.hits = current.endpoint.hits;
    current.hitEndpoints = current.endpoint.hits > 0 ? 1 : 0;
    return;
  }
  for (const c of current.children) sortAndCount(c);
  current.endpoints = sum(current.children, (c) => c.endpoints);
  current.hitEndpoints = sum(current.children, (c) => c.hitEndpoints);
  current.hits = sum(current.children, (c) => c.hits);
  if (current.ring === "kind") current.children.sort((a, b) => compare(a.name, b.name));
  else if (current.ring !== "root") {
    current.children.sort((a, b) => b.endpoints - a.endpoints || compare(a.name, b.name));
  }
}

function sum(nodes: readonly SunburstNode[], of: (n: SunburstNode) => number): number {
  let total = 0;
  for (const n of nodes) total += of(n);
  return total;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
