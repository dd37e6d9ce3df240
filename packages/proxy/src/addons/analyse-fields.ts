import {
  type Endpoint,
  emptyFieldReport,
  type FieldReport,
  type FieldSchema,
  requestSchemaRef,
} from "@apisnoop/openapi";
import { JSON_SCHEMA, load as loadYaml } from "js-yaml";
import type { Addon } from "../addon-chain";
import {
  type CaptureBudget,
  type CapturedBody,
  capturesRequestBody,
  capturesResponseBody,
} from "../body-capture";
import type { Flow } from "../flow";
import { mediaType } from "./describe-outcome";

/**
 * What a watch keeps of its event stream for field analysis: a watch may stay open for hours, and an
 * informer-heavy controller opens dozens, so each keeps only its first events.
 */
export const WATCH_PREFIX_BYTES = 256 * 1024;

/**
 * Field coverage of one flow: the request body of create/update/patch read against the operation's
 * schema (a patch against the object it patches, by patch type), and the response of get/list/watch
 * (each list item, each watch event's object), all in the flow's own spec snapshot. Paths only, never
 * values (GUIDE §4). A body that cannot be parsed is skipped; the hit still counts.
 */
export function analyseFlowFields(
  flow: Flow,
  readResponse = true,
): { request: FieldReport | null; response: FieldReport | null } {
  const endpoint = flow.match?.endpoint;
  const schema = flow.spec?.fields;
  if (!endpoint || !schema) return { request: null, response: null };
  return {
    request: analyseRequest(flow, endpoint, schema),
    response: readResponse ? analyseResponse(flow, endpoint, schema) : null,
  };
}

function analyseRequest(flow: Flow, endpoint: Endpoint, schema: FieldSchema): FieldReport | null {
  const body = wholeBody(flow.request.body);
  if (!body) return null;
  const type = mediaType(flow.request.contentType ?? "application/json");
  const value = parseText(body.toString("utf8"), type);
  if (value === undefined) return null;
  const report = emptyFieldReport();
  // A patch is read against the object being patched (requestSchemaRef).
  const target = requestSchemaRef(endpoint);
  if (!target) return null;
  if (flow.request.method === "PATCH") {
    if (type === "application/json-patch+json") return schema.walkJsonPatch(target, value, report);
    return schema.walk(target, value, report, {
      strategicMergePatch: type === "application/strategic-merge-patch+json",
    });
  }
  return schema.walk(target, value, report);
}

function analyseResponse(flow: Flow, endpoint: Endpoint, schema: FieldSchema): FieldReport | null {
  const response = flow.response;
  const captured = response?.body;
  if (!response || !captured || captured.skipped || captured.bytes === 0) return null;
  const ref = endpoint.responseRefs[String(response.status)] ?? endpoint.responseRefs["200"];
  if (!ref) return null;
  const itemRef = schema.listItemRef(ref);
  const report = emptyFieldReport();
  if (flow.match?.watch) {
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
 * Field analysis. Capture is decided here, as each body starts to stream past: a write's request body at
 * `request`, a read's response body at `response` (after matching: a watch keeps only its first
 * events), referenced within `budget`'s caps, never delaying a byte. The bodies are read at `done`,
 * after the client has its last byte, against the flow's spec snapshot (a CRD added at runtime is read
 * with its own schema once the spec is refreshed): sets `flow.fields`.
 *
 * Request bodies are always read. Response bodies — a controller re-reading the same big list every few
 * seconds — are captured and read for the first `responseSamples` calls per endpoint and source each
 * minute (0: all), decided at the response head:
 * which fields a client receives barely changes between those reads, and reading every one cost this
 * proxy about a third of its throughput on 118 KiB lists (README, bench:proxy).
 */
export function analyseFields(budget: CaptureBudget, responseSamples = DEFAULT_RESPONSE_SAMPLES): Addon {
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
    request(flow) {
      const { bodyStream, method, contentType } = flow.request;
      if (bodyStream && capturesRequestBody(method, contentType ?? null)) {
        flow.request.body = budget.capture(bodyStream);
      }
    },
    response(flow) {
      const response = flow.response;
      if (!response?.bodyStream) return;
      if (!capturesResponseBody(flow.request.method, response.status, response.contentType ?? null)) return;
      // Sampled before a byte is kept: a response that will not be read is never captured (no listener,
      // no buffers held until `done`).
      if (!wantsResponse(flow)) return;
      response.body = budget.capture(response.bodyStream, flow.match?.watch ? WATCH_PREFIX_BYTES : undefined);
    },
    done(flow) {
      const readResponse = Boolean(flow.response?.body);
      if (!flow.request.body && !readResponse) return;
      const { request, response } = analyseFlowFields(flow, readResponse);
      if (request || response) flow.fields = { request, response };
    },
  };
}
