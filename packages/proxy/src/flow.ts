import type { MatchResult } from "@apisnoop/openapi";
import type { Source } from "@apisnoop/protocol";
import type { CapturedBody } from "./body-capture";
import type { SpecSnapshot } from "./spec-snapshot";

/** How a client reached the proxy: its kubeconfig `server` points at us, or it tunnelled through CONNECT. */
export type ProxyMode = "reverse" | "forward";

/** The request half of a flow: only what analysis may keep. Headers are never copied here (GUIDE §4). */
export interface FlowRequest {
  method: string;
  /** Path plus query string exactly as the client sent it (the matcher's input). */
  url: string;
  /** The `User-Agent` header: the one header-derived value apisnoop keeps. */
  userAgent: string | null;
  /** The request asked to switch protocols (exec/attach/portforward over SPDY or WebSocket). */
  upgrade: boolean;
  /** The `X-Apisnoop-Source` header: an explicit source name, the other header apisnoop keeps (GUIDE §4). */
  sourceHeader?: string | null;
  /** The `X-Apisnoop-Run` header: the run (a CI run id) the call belongs to, kept like the source name. */
  runHeader?: string | null;
  /** The client's address as the proxy's socket saw it (for pod attribution in a cluster). */
  remoteAddress?: string | null;
  /** `Content-Type` of the body, parameters included (it names the patch type and protobuf). */
  contentType?: string | null;
  /**
   * The body as it streams to the upstream, for an addon to listen to (never to pause or consume); set
   * only when the request has one, and only until the flow ends.
   */
  bodyStream?: BodyTap | null;
  /** The body as far as it was captured for field analysis; null when not captured. */
  body?: CapturedBody | null;
}

/** The response half of a flow, once the upstream answered. */
export interface FlowResponse {
  status: number;
  contentType?: string | null;
  /** The body as it streams to the client, for an addon to listen to; only until the flow ends. */
  bodyStream?: BodyTap | null;
  /** The body as far as it was captured for field analysis; null when not captured. */
  body?: CapturedBody | null;
}

/** A body streaming past the proxy, as addons may see it: its chunks and its end, nothing to steer. */
export interface BodyTap {
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  once(event: "end", listener: () => void): unknown;
}

/** Why a flow failed: the upstream could not be reached, or a side hung up mid-stream. */
export interface FlowError {
  /** "upstream": the proxy could not get an answer (the client got a 502 Status). "aborted": a side closed early. */
  kind: "upstream" | "aborted";
  message: string;
}

/**
 * One client request passing through the proxy, as mitmproxy's `HTTPFlow`: addons read it and add their
 * findings (`match`), in chain order.
 */
export interface Flow {
  /** Process-unique, increasing. */
  id: number;
  mode: ProxyMode;
  /** Wall-clock start, epoch milliseconds. */
  startedAt: number;
  request: FlowRequest;
  response: FlowResponse | null;
  error: FlowError | null;
  /** Request start to last response byte (or to the error), milliseconds. Set before `done`. */
  durationMs: number | null;
  /** The spec current when the request arrived, kept for the whole flow; null before any spec loaded. */
  readonly spec: SpecSnapshot | null;
  /** The endpoint, watch decision and detail: set once by the match-operation addon, at the response head. */
  match: MatchResult | null;
  /** Who made the call; set by the attribution addon. */
  source: Source | null;
  /** Facts about the call that matter for coverage ("watch", "dryRun", "patch:merge", ...). */
  details: string[];
  /** Field paths found by the field-analysis addon, per body. */
  fields: FlowFields | null;
}

/** Field paths (GUIDE §3) a flow's bodies used, and the unknown ones among them. */
export interface FlowFields {
  request: { fields: Set<string>; unknown: Set<string> } | null;
  response: { fields: Set<string>; unknown: Set<string> } | null;
}

let nextFlowId = 1;

/** A fresh flow for a request that just arrived, matched later against `spec`. */
export function createFlow(
  mode: ProxyMode,
  request: FlowRequest,
  spec: SpecSnapshot | null,
  startedAt = Date.now(),
): Flow {
  return {
    id: nextFlowId++,
    mode,
    startedAt,
    request,
    response: null,
    error: null,
    durationMs: null,
    spec,
    match: null,
    source: null,
    details: [],
    fields: null,
  };
}
