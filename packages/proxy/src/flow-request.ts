/**
 * The hand-off from the transport to the flow lifecycle: what of a client's request a new flow gets, and
 * how an answer tells that it is a stream of events.
 */
import { type ClientRequest, clientAddress, requestBody } from "./client-answers";
import type { FlowRequest, ProxyMode } from "./flow";
import { hasHeader } from "./http-headers";

/**
 * The request half of a new flow: method, url, the only header values apisnoop keeps (GUIDE §4), and the
 * body's stream when there is one.
 */
export function flowRequest(
  mode: ProxyMode,
  req: ClientRequest,
  basePath: string,
  upgrade: boolean,
  hasBody: boolean,
): FlowRequest {
  const source = req.headers["x-apisnoop-source"];
  const run = req.headers["x-apisnoop-run"];
  return {
    method: req.method ?? "GET",
    url: flowUrl(mode, req.url ?? "/", basePath),
    userAgent: req.headers["user-agent"] ?? null,
    upgrade,
    sourceHeader: (Array.isArray(source) ? source[0] : source) ?? null,
    runHeader: (Array.isArray(run) ? run[0] : run) ?? null,
    remoteAddress: clientAddress(req) ?? null,
    contentType: req.headers["content-type"] ?? null,
    bodyStream: hasBody ? requestBody(req) : null,
    body: null,
  };
}

/** The URL the matcher sees: API-root relative (forward-mode requests carry the server's path prefix). */
function flowUrl(mode: ProxyMode, url: string, basePath: string): string {
  if (mode === "forward" && basePath && url.startsWith(basePath)) return url.slice(basePath.length) || "/";
  return url;
}

/** The content type of a watch's stream of events (a 200 answer without a length, not an error Status), else null. */
export function eventStreamType(
  status: number,
  rawHeaders: string[],
  contentType: string | undefined,
): string | null {
  return status === 200 && !hasHeader(rawHeaders, "content-length") ? (contentType ?? null) : null;
}
