import type { Endpoint, EndpointCatalog } from "@apisnoop/openapi";

/** A beta (or alpha) endpoint whose operation reappears at a higher level in the later release. */
export interface Promotion {
  from: Endpoint;
  to: Endpoint;
}

/** What changed in the endpoint set between two releases (watch operations excluded, as apisnoop counts). */
export interface ReleaseDiff {
  from: string | null;
  to: string | null;
  added: Endpoint[];
  removed: Endpoint[];
  /** Added endpoints that replace an endpoint of a lower level (e.g. v1beta1 → v1 of the same kind). */
  promoted: Promotion[];
  /** Endpoints present in both releases that are deprecated only in the later one. */
  newlyDeprecated: Endpoint[];
}

const RANK = { alpha: 0, beta: 1, stable: 2 } as const;

/**
 * The shape of an operation with its API version left out, so the same operation of two versions of a
 * group compares equal: `POST /apis/flowcontrol.apiserver.k8s.io/*​/flowschemas`.
 */
export function versionlessShape(endpoint: Endpoint): string {
  const path = endpoint.path
    .replace(/^\/apis\/([^/]+)\/[^/]+\//, "/apis/$1/*/")
    .replace(/^\/api\/[^/]+\//, "/api/*/");
  return `${endpoint.method} ${path}`;
}

/** Compares two catalogs by operationId; promotions pair added endpoints with removed or kept lower-level ones. */
export function diffReleases(from: EndpointCatalog, to: EndpointCatalog): ReleaseDiff {
  const before = new Map(from.endpoints.map((e) => [e.operationId, e]));
  const after = new Map(to.endpoints.map((e) => [e.operationId, e]));
  const added = to.endpoints.filter((e) => !before.has(e.operationId));
  const removed = from.endpoints.filter((e) => !after.has(e.operationId));
  const byShape = new Map<string, Endpoint[]>();
  for (const endpoint of from.endpoints) {
    const shape = versionlessShape(endpoint);
    byShape.set(shape, [...(byShape.get(shape) ?? []), endpoint]);
  }
  const promoted: Promotion[] = [];
  for (const endpoint of added) {
    const earlier = (byShape.get(versionlessShape(endpoint)) ?? [])
      .filter((e) => RANK[e.level] < RANK[endpoint.level])
      .sort((a, b) => RANK[b.level] - RANK[a.level])[0];
    if (earlier) promoted.push({ from: earlier, to: endpoint });
  }
  const newlyDeprecated = to.endpoints.filter(
    (e) => e.deprecated && before.has(e.operationId) && !before.get(e.operationId)?.deprecated,
  );
  return { from: from.release, to: to.release, added, removed, promoted, newlyDeprecated };
}
