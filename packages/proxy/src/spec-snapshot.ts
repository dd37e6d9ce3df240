import { compileMatcher, type EndpointCatalog, FieldSchema, type RequestMatcher } from "@apisnoop/openapi";

/**
 * One loaded spec as a flow sees it: the endpoints, their matcher and the schema walker, all built from
 * the same load. A flow takes the snapshot current when its request arrives and keeps it to the end, so
 * a spec refreshed mid-flight (a CRD added) never mixes two specs in one hit.
 */
export interface SpecSnapshot {
  readonly catalog: EndpointCatalog;
  readonly matcher: RequestMatcher;
  readonly fields: FieldSchema;
}

/** Compiles a catalog into an immutable snapshot (the matcher's trie and the field walker). */
export function specSnapshot(catalog: EndpointCatalog): SpecSnapshot {
  return Object.freeze({
    catalog,
    matcher: compileMatcher(catalog),
    fields: new FieldSchema(catalog.definitions),
  });
}
