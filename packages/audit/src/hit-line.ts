import type { RequestMatcher } from "@apisnoop/openapi";
import { sourceFromUserAgent } from "@apisnoop/protocol";
import type { AuditOutcome } from "./audit-event";

/**
 * One line of a proxy hits file (`apisnoop proxy --out`) as a hit, re-matched against `matcher` so the
 * release is the one the import names, not whatever spec the proxy ran with.
 */
export function hitLineToHit(
  line: unknown,
  matcher: RequestMatcher,
  sourceName: string | null = null,
): AuditOutcome {
  if (!line || typeof line !== "object") return { kind: "malformed", error: "not an object" };
  const { ts, method, path, query, status, userAgent } = line as Record<string, unknown>;
  if (typeof method !== "string" || typeof path !== "string" || !path.startsWith("/")) {
    return { kind: "malformed", error: "expected string fields method and path" };
  }
  const at = typeof ts === "string" ? Date.parse(ts) : Number.NaN;
  if (Number.isNaN(at)) return { kind: "malformed", error: "no ts" };
  const match = matcher.match(method, typeof query === "string" && query !== "" ? `${path}?${query}` : path);
  return {
    kind: "hit",
    hit: {
      at,
      method: method.toUpperCase(),
      operationId: match.operationId,
      ...(match.reason ? { reason: match.reason } : {}),
      path,
      status: typeof status === "number" ? status : null,
      source: sourceFromUserAgent(typeof userAgent === "string" ? userAgent : "", sourceName),
      details: match.detail ? [match.detail] : [],
    },
  };
}
