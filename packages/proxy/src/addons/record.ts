import { kubernetesQuery } from "@apisnoop/openapi";
import {
  type Hit,
  type HitLine,
  type HitLineFields,
  type Source,
  sourceFromUserAgent,
} from "@apisnoop/protocol";
import type { Addon } from "../addon-chain";
import type { Flow } from "../flow";

/**
 * Where recorded hits go. `count` is called at `complete` (cheap, durable); `addFields` and `write` at
 * `done`, once the fields are known. A hits.jsonl line is built only when some sink writes lines.
 */
export interface HitSink {
  /** The hit is counted: called before the client's response ends. */
  count?(hit: Hit): void;
  /** The counted hit, now with its field findings, after the client has its answer. */
  addFields?(hit: Hit): void;
  /** The hit as a hits.jsonl line, with its fields, after the client has its answer. */
  write?(line: HitLine): void;
}

/** The hit a finished flow stands for, as one hits.jsonl line. Pure: a function of the flow alone. */
export function hitLineOf(flow: Flow): HitLine {
  const { url } = flow.request;
  const q = url.indexOf("?");
  const hit: HitLine = {
    ts: isoTimestamp(flow.startedAt),
    method: flow.request.method,
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? "" : kubernetesQuery(url.slice(q + 1)),
    status: flow.response?.status ?? 0,
    durationMs: Math.round((flow.durationMs ?? 0) * 1000) / 1000,
    operationId: flow.match?.operationId ?? null,
    userAgent: flow.request.userAgent,
  };
  if (hit.operationId === null) hit.reason = flow.match?.reason ?? "not matched";
  const source = flow.source ? knownParts(flow.source) : null;
  if (source) hit.source = source;
  if (flow.details.length > 0) hit.details = [...flow.details];
  if (flow.fields?.request) hit.requestFields = sortedFields(flow.fields.request);
  if (flow.fields?.response) hit.responseFields = sortedFields(flow.fields.response);
  return hit;
}

/** The second `isoTimestamp` formatted last, and its text up to the milliseconds (`2026-01-02T03:04:05.`). */
let isoSecond = Number.NaN;
let isoSecondText = "";

/**
 * `new Date(ms).toISOString()` for a whole number of milliseconds, without a Date per call: under load
 * most hit lines of a second share its text, and formatting a Date costs more than the rest of the line.
 */
export function isoTimestamp(ms: number): string {
  const second = Math.floor(ms / 1000);
  // Outside years 0–9999 (and for fractions) the text has another shape: Date writes it.
  if (!Number.isInteger(ms) || ms < -62167219200000 || ms > 253402300799999)
    return new Date(ms).toISOString();
  if (second !== isoSecond) {
    isoSecondText = new Date(second * 1000).toISOString().slice(0, 20);
    isoSecond = second;
  }
  const milliseconds = ms - second * 1000;
  return `${isoSecondText}${milliseconds < 10 ? "00" : milliseconds < 100 ? "0" : ""}${milliseconds}Z`;
}

/** The source of a flow nobody attributed (no attribution addon in the chain). */
const ANONYMOUS_SOURCE: Source = sourceFromUserAgent("");

/** The hit as edge aggregation counts it (packages/protocol's RollupBuilder). */
export function hitOf(flow: Flow): Hit {
  const { url } = flow.request;
  const q = url.indexOf("?");
  const operationId = flow.match?.operationId ?? null;
  const hit: Hit = {
    at: flow.startedAt,
    method: flow.request.method,
    operationId,
    path: q === -1 ? url : url.slice(0, q),
    status: flow.response && flow.response.status > 0 ? flow.response.status : null,
    source: flow.source ?? ANONYMOUS_SOURCE,
    details: flow.details,
  };
  if (operationId === null) hit.reason = flow.match?.reason ?? "not matched";
  if (flow.fields?.request) hit.requestFields = flow.fields.request;
  if (flow.fields?.response) hit.responseFields = flow.fields.response;
  return hit;
}

/**
 * Records every flow into `sinks`: counted at `complete` (so a hit survives the proxy being killed once
 * the client has its answer), written with its fields at `done`. Goes after the analysis addons.
 */
export function record(...sinks: HitSink[]): Addon {
  const counting = sinks.filter((sink) => sink.count);
  const adding = sinks.filter((sink) => sink.addFields);
  const writing = sinks.filter((sink) => sink.write);
  // The hit counted at `complete`, so `done` only adds the fields instead of building it again.
  const counted = new WeakMap<Flow, Hit>();
  return {
    name: "record",
    complete(flow) {
      if (counting.length === 0) return;
      const hit = hitOf(flow);
      for (const sink of counting) sink.count?.(hit);
      if (adding.length > 0) counted.set(flow, hit);
    },
    done(flow) {
      if (adding.length > 0) {
        const rollup = counted.get(flow);
        if (rollup) {
          if (flow.fields?.request) rollup.requestFields = flow.fields.request;
          if (flow.fields?.response) rollup.responseFields = flow.fields.response;
        }
        for (const sink of adding) sink.addFields?.(rollup ?? hitOf(flow));
      }
      if (writing.length > 0) {
        const line = hitLineOf(flow);
        for (const sink of writing) sink.write?.(line);
      }
    },
  };
}

/**
 * A source's set parts, built once per source: attribution hands out one object per client (and never
 * changes it after), so every hit line of that client shares them. Null when nothing is set.
 */
const partsOf = new WeakMap<Source, Readonly<Partial<Source>> | null>();

function knownParts(source: Source): Readonly<Partial<Source>> | null {
  let parts = partsOf.get(source);
  if (parts !== undefined) return parts;
  const found: Partial<Source> = {};
  for (const [key, value] of Object.entries(source) as [keyof Source, Source[keyof Source]][]) {
    if (value !== null && value !== false && value !== "" && key !== "userAgent") {
      (found as Record<string, unknown>)[key] = value;
    }
  }
  parts = Object.keys(found).length > 0 ? Object.freeze(found) : null;
  partsOf.set(source, parts);
  return parts;
}

function sortedFields(report: { fields: Set<string>; unknown: Set<string> }): HitLineFields {
  return { fields: [...report.fields].sort(), unknown: [...report.unknown].sort() };
}
