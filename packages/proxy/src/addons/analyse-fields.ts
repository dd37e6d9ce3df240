import { type Endpoint, emptyFieldReport, type FieldReport, type FieldSchema } from "@apisnoop/openapi";
import { JSON_SCHEMA, load as loadYaml } from "js-yaml";
import type { Addon } from "../addon-chain";
import type { CapturedBody } from "../body-capture";
import type { Flow } from "../flow";
import { mediaType } from "./describe-outcome";

/** What field analysis needs of the current spec. */
export interface FieldAnalysisSpec {
  fields: FieldSchema;
  endpointOf(operationId: string): Endpoint | null;
}

/**
 * Field coverage of one flow (issue 5 §1): the request body of create/update/patch read against the
 * operation's schema (a patch against the object it patches, by patch type), and the response of
 * get/list/watch (each list item, each watch event's object). Paths only, never values (GUIDE §4).
 * A body that cannot be parsed is skipped; the hit still counts.
 */
export function analyseFlowFields(
  flow: Flow,
  spec: FieldAnalysisSpec,
  readResponse = true,
): { request: FieldReport | null; response: FieldReport | null } {
  const operationId = flow.match?.operationId;
  const endpoint = operationId ? spec.endpointOf(operationId) : null;
  if (!endpoint) return { request: null, response: null };
  return {
    request: analyseRequest(flow, endpoint, spec.fields),
    response: readResponse ? analyseResponse(flow, endpoint, spec.fields) : null,
  };
}

function analyseRequest(flow: Flow, endpoint: Endpoint, schema: FieldSchema): FieldReport | null {
  const body = wholeBody(flow.request.body);
  if (!body) return null;
  const type = mediaType(flow.request.contentType ?? "application/json");
  const value = parseText(body.toString("utf8"), type);
  if (value === undefined) return null;
  const report = emptyFieldReport();
  if (flow.request.method === "PATCH") {
    // The spec types a patch body as a free-form `Patch`: read it against the object being patched.
    const target = endpoint.responseRefs["200"];
    if (!target) return null;
    if (type === "application/json-patch+json") return schema.walkJsonPatch(target, value, report);
    return schema.walk(target, value, report, {
      strategicMergePatch: type === "application/strategic-merge-patch+json",
    });
  }
  if (!endpoint.requestBodyRef) return null;
  return schema.walk(endpoint.requestBodyRef, value, report);
}

function analyseResponse(flow: Flow, endpoint: Endpoint, schema: FieldSchema): FieldReport | null {
  const response = flow.response;
  const captured = response?.body;
  if (!response || !captured || captured.skipped || captured.bytes === 0) return null;
  const ref = endpoint.responseRefs[String(response.status)] ?? endpoint.responseRefs["200"];
  if (!ref) return null;
  const itemRef = schema.listItemRef(ref);
  const report = emptyFieldReport();
  if (flow.details.includes("watch") || endpoint.watchOperation) {
    // A watch is a stream of `{"type", "object"}` lines, usually cut off by the client: read whole lines.
    const text = captured.bytesView().toString("utf8");
    const end = captured.complete ? text.length : text.lastIndexOf("\n") + 1;
    const objectRef = itemRef ?? ref;
    for (const line of text.slice(0, end).split("\n")) {
      const event = parseText(line, "application/json") as { type?: unknown; object?: unknown } | undefined;
      if (!event || typeof event !== "object" || event.type === "ERROR" || event.type === "BOOKMARK")
        continue;
      schema.walk(objectRef, event.object, report);
    }
    return report;
  }
  if (!captured.complete) return null;
  const value = parseText(captured.bytesView().toString("utf8"), "application/json");
  if (value === undefined) return null;
  if (itemRef) {
    const items = (value as { items?: unknown } | null)?.items;
    if (Array.isArray(items)) for (const item of items) schema.walk(itemRef, item, report);
    return report;
  }
  return schema.walk(ref, value, report);
}

/** The captured bytes of a body that arrived whole and within the caps, else null. */
function wholeBody(body: CapturedBody | null | undefined): Buffer | null {
  if (!body?.complete || body.skipped || body.bytes === 0) return null;
  return body.bytesView();
}

/** JSON, or YAML for apply patches (kubectl sends JSON there too); undefined when unreadable. */
function parseText(text: string, type: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    if (!type.endsWith("yaml")) return undefined;
  }
  try {
    return loadYaml(text, { schema: JSON_SCHEMA, json: true });
  } catch {
    return undefined;
  }
}

/** How many response bodies per endpoint and source are read each minute, by default. */
export const DEFAULT_RESPONSE_SAMPLES = 20;

/**
 * Field analysis at `done`, after the client has its last byte: sets `flow.fields`. Reads the spec per
 * flow, so a CRD added at runtime is analysed with its own schema once the spec is refreshed.
 *
 * Request bodies are always read. Response bodies — a controller re-reading the same big list every few
 * seconds — are read for the first `responseSamples` calls per endpoint and source each minute (0: all):
 * which fields a client receives barely changes between those reads, and reading every one cost this
 * proxy about a third of its throughput on 118 KiB lists (README, bench:proxy).
 */
export function analyseFields(
  currentSpec: () => FieldAnalysisSpec | null,
  responseSamples = DEFAULT_RESPONSE_SAMPLES,
): Addon {
  const sampled = new WeakMap<object, Map<string, { minute: number; count: number }>>();
  const noSource = {};
  const wantsResponse = (flow: Flow): boolean => {
    if (responseSamples === 0) return true;
    const operationId = flow.match?.operationId;
    if (!operationId) return false;
    const key = flow.source ?? noSource;
    let perOperation = sampled.get(key);
    if (!perOperation) {
      perOperation = new Map();
      sampled.set(key, perOperation);
    }
    const minute = Math.floor(flow.startedAt / 60_000);
    const seen = perOperation.get(operationId);
    if (!seen || seen.minute !== minute) {
      perOperation.set(operationId, { minute, count: 1 });
      return true;
    }
    return ++seen.count <= responseSamples;
  };
  return {
    name: "analyse-fields",
    done(flow) {
      const readResponse = Boolean(flow.response?.body) && wantsResponse(flow);
      if (!flow.request.body && !readResponse) return;
      const spec = currentSpec();
      if (!spec) return;
      const { request, response } = analyseFlowFields(flow, spec, readResponse);
      if (request || response) flow.fields = { request, response };
    },
  };
}
