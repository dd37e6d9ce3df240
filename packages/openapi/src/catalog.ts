import { levelOf } from "./level";
import {
  type Endpoint,
  type EndpointCatalog,
  SPEC_METHODS,
  type SwaggerOperation,
  type SwaggerParameter,
  type SwaggerSpec,
} from "./types";

/** Actions of the deprecated `/watch/` operations, which apisnoop leaves out of its endpoint counts. */
const WATCH_ACTIONS = new Set(["watch", "watchlist"]);

/** Category of an operation: its first tag up to the first `_` (`core_v1` -> `core`). */
export function categoryOf(tags: readonly string[] | undefined): string {
  const first = tags?.[0] ?? "";
  const cut = first.indexOf("_");
  return cut === -1 ? first : first.slice(0, cut);
}

/**
 * Builds the endpoint catalog of a swagger v2 spec. `release` labels the catalog ("1.34"); it is not in
 * the spec itself (`info.version` is "unversioned").
 */
export function buildCatalog(spec: SwaggerSpec, release: string | null = null): EndpointCatalog {
  const endpoints: Endpoint[] = [];
  const watchOperations: Endpoint[] = [];
  const byOperationId = new Map<string, Endpoint>();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of SPEC_METHODS) {
      const operation = item[method];
      if (!operation?.operationId) continue;
      const endpoint = toEndpoint(spec, path, method, operation, item.parameters);
      (endpoint.watchOperation ? watchOperations : endpoints).push(endpoint);
      byOperationId.set(endpoint.operationId, endpoint);
    }
  }
  return { release, endpoints, watchOperations, byOperationId, definitions: spec.definitions ?? {} };
}

function toEndpoint(
  spec: SwaggerSpec,
  path: string,
  method: string,
  operation: SwaggerOperation,
  pathParameters: SwaggerParameter[] | undefined,
): Endpoint {
  const operationId = operation.operationId as string;
  const gvk = operation["x-kubernetes-group-version-kind"];
  const action = operation["x-kubernetes-action"] ?? null;
  const description = operation.description ?? null;
  const responseRefs: Record<string, string> = {};
  for (const [status, response] of Object.entries(operation.responses ?? {})) {
    const ref = response.schema?.$ref;
    if (ref) responseRefs[status] = ref;
  }
  return {
    operationId,
    method: method.toUpperCase(),
    path,
    level: levelOf(operationId, path),
    category: categoryOf(operation.tags),
    group: gvk?.group ?? null,
    version: gvk?.version ?? null,
    kind: gvk?.kind ?? null,
    action,
    description,
    deprecated: description !== null && /deprecated/i.test(description),
    watchOperation: action !== null && WATCH_ACTIONS.has(action),
    requestBodyRef: bodyRef(spec, [...(pathParameters ?? []), ...(operation.parameters ?? [])]),
    responseRefs,
  };
}

/** The `$ref` of the body parameter's schema, following a `#/parameters/...` indirection. */
function bodyRef(spec: SwaggerSpec, parameters: SwaggerParameter[]): string | null {
  for (const raw of parameters) {
    const parameter = raw.$ref ? spec.parameters?.[raw.$ref.replace("#/parameters/", "")] : raw;
    if (parameter?.in === "body") return parameter.schema?.$ref ?? null;
  }
  return null;
}
