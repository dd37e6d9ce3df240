import type { Level } from "./level";

/**
 * Shapes of a Kubernetes swagger v2 document (only what apisnoop reads) and of the endpoint catalog built
 * from it. Definitions follow GUIDE §3 and must stay apisnoop-compatible.
 */

/** HTTP methods that appear as operations in a swagger v2 path item. */
export const SPEC_METHODS = ["get", "put", "post", "delete", "options", "head", "patch"] as const;
export type SpecMethod = (typeof SPEC_METHODS)[number];

export interface SwaggerSchema {
  $ref?: string;
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, SwaggerSchema>;
  items?: SwaggerSchema;
  additionalProperties?: SwaggerSchema | boolean;
  allOf?: SwaggerSchema[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  [extension: `x-${string}`]: unknown;
}

export interface SwaggerParameter {
  $ref?: string;
  name?: string;
  in?: "body" | "query" | "path" | "header" | "formData";
  schema?: SwaggerSchema;
  type?: string;
}

export interface SwaggerResponse {
  description?: string;
  schema?: SwaggerSchema;
}

export interface SwaggerOperation {
  operationId?: string;
  description?: string;
  tags?: string[];
  parameters?: SwaggerParameter[];
  responses?: Record<string, SwaggerResponse>;
  consumes?: string[];
  produces?: string[];
  "x-kubernetes-action"?: string;
  "x-kubernetes-group-version-kind"?: { group: string; version: string; kind: string };
}

export type SwaggerPathItem = Partial<Record<SpecMethod, SwaggerOperation>> & {
  parameters?: SwaggerParameter[];
};

/** A swagger v2 document as served by kube-apiserver at `/openapi/v2`. */
export interface SwaggerSpec {
  swagger: string;
  info?: { title?: string; version?: string };
  paths: Record<string, SwaggerPathItem>;
  definitions?: Record<string, SwaggerSchema>;
  parameters?: Record<string, SwaggerParameter>;
}

/** One operation of a release's spec: the unit that coverage counts. */
export interface Endpoint {
  /** The operationId, apisnoop's `endpoint`. */
  operationId: string;
  /** Upper-case HTTP method (GET, POST, ...). */
  method: string;
  /** Path template exactly as in the spec, e.g. `/api/v1/namespaces/{namespace}/pods/{name}`. */
  path: string;
  level: Level;
  /** First tag up to the first `_` (`core_v1` -> `core`). */
  category: string;
  group: string | null;
  version: string | null;
  kind: string | null;
  action: string | null;
  description: string | null;
  /** The description mentions "deprecated" (any case). */
  deprecated: boolean;
  /** `x-kubernetes-action` is watch or watchlist: a deprecated `/watch/` operation, outside the counts. */
  watchOperation: boolean;
  /** `#/definitions/...` ref of the body parameter's schema, when the operation takes a body. */
  requestBodyRef: string | null;
  /** Response schema refs by status code (only responses that have a `$ref` schema). */
  responseRefs: Record<string, string>;
}

/**
 * What every list of endpoints shows of each (the sunburst, /conformance, /priorities): its name, its call,
 * where it sits (level, category, kind) and whether it is deprecated.
 */
export type EndpointHeadline = Pick<
  Endpoint,
  "operationId" | "method" | "path" | "level" | "category" | "kind" | "deprecated"
>;

/** All endpoints of one spec, indexed by operationId. */
export interface EndpointCatalog {
  /** Release label, e.g. "1.34", when known (from the caller or the live cluster's /version). */
  release: string | null;
  /** Endpoints as apisnoop counts them: watch/watchlist operations excluded. */
  endpoints: Endpoint[];
  /** The deprecated watch/watchlist operations, kept for matching `/watch/...` paths. */
  watchOperations: Endpoint[];
  /** Every operation (endpoints and watch operations) by operationId. */
  byOperationId: Map<string, Endpoint>;
  /** The spec's schema definitions, for field analysis. */
  definitions: Record<string, SwaggerSchema>;
}

/**
 * What the matcher says about one request: decided once, then carried (the proxy's flow, the importers),
 * never looked up again.
 */
export interface MatchResult {
  /** The operation the request is a call of; null when nothing matched (`reason` says why). */
  endpoint: Endpoint | null;
  /** `endpoint.operationId`, the name hits carry; null when nothing matched. */
  operationId: string | null;
  /**
   * The answer is a stream of watch events: `?watch=true` on a list, a deprecated `/watch/` operation,
   * or a watch query on a path that matched nothing. A `?watch=true` on a single object's read is a read.
   */
  watch: boolean;
  /** Why nothing matched: "no such path", "method not allowed", "group not served by this spec". */
  reason?: string;
  /** Extra facts about a hit: "watch" for `?watch=true` on a list, "deprecated watch path". */
  detail?: string;
}
