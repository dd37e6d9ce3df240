import type { Endpoint } from "@apisnoop/openapi";
import { LEVEL_RANK } from "@apisnoop/openapi/level";

/** What a release diff reads of an endpoint: a catalog's Endpoint, or a stored endpoint row. */
export type DiffableEndpoint = Pick<Endpoint, "operationId" | "method" | "path" | "level" | "deprecated">;

/** The endpoints of one release (an EndpointCatalog, or the rows stored for a release). */
export interface ReleaseEndpoints<E extends DiffableEndpoint = Endpoint> {
  release: string | null;
  endpoints: readonly E[];
}

/** A beta (or alpha) endpoint whose operation reappears at a higher level in the later release. */
export interface Promotion<E extends DiffableEndpoint = Endpoint> {
  from: E;
  to: E;
}

/** What changed in the endpoint set between two releases (watch operations excluded, as apisnoop counts). */
export interface ReleaseDiff<E extends DiffableEndpoint = Endpoint> {
  from: string | null;
  to: string | null;
  added: E[];
  removed: E[];
  /** Added endpoints that replace an endpoint of a lower level (e.g. v1beta1 → v1 of the same kind). */
  promoted: Promotion<E>[];
  /** Endpoints present in both releases that are deprecated only in the later one. */
  newlyDeprecated: E[];
}

/**
 * The shape of an operation with its API version left out, so the same operation of two versions of a
 * group compares equal: `POST /apis/flowcontrol.apiserver.k8s.io/*​/flowschemas`.
 */
export function versionlessShape(endpoint: Pick<Endpoint, "method" | "path">): string {
  const path = endpoint.path
    .replace(/^\/apis\/([^/]+)\/[^/]+\//, "/apis/$1/*/")
    .replace(/^\/api\/[^/]+\//, "/api/*/");
  return `${endpoint.method} ${path}`;
}

/** Compares two catalogs by operationId; promotions pair added endpoints with removed or kept lower-level ones. */
export function diffReleases<E extends DiffableEndpoint>(
  from: ReleaseEndpoints<E>,
  to: ReleaseEndpoints<E>,
): ReleaseDiff<E> {
  const before = new Map(from.endpoints.map((e) => [e.operationId, e]));
  const after = new Map(to.endpoints.map((e) => [e.operationId, e]));
  const added = to.endpoints.filter((e) => !before.has(e.operationId));
  const removed = from.endpoints.filter((e) => !after.has(e.operationId));
  const byShape = new Map<string, E[]>();
  for (const endpoint of from.endpoints) {
    const shape = versionlessShape(endpoint);
    byShape.set(shape, [...(byShape.get(shape) ?? []), endpoint]);
  }
  const promoted: Promotion<E>[] = [];
  for (const endpoint of added) {
    const earlier = (byShape.get(versionlessShape(endpoint)) ?? [])
      .filter((e) => LEVEL_RANK[e.level] < LEVEL_RANK[endpoint.level])
      .sort((a, b) => LEVEL_RANK[b.level] - LEVEL_RANK[a.level])[0];
    if (earlier) promoted.push({ from: earlier, to: endpoint });
  }
  const newlyDeprecated = to.endpoints.filter(
    (e) => e.deprecated && before.has(e.operationId) && !before.get(e.operationId)?.deprecated,
  );
  return { from: from.release, to: to.release, added, removed, promoted, newlyDeprecated };
}
