import type { RequestMatcher } from "@apisnoop/openapi";
import { type Hit, SourceSchema, sourceFromUserAgent } from "@apisnoop/protocol";
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
  const { ts, method, path, query, status, userAgent, source, details, requestFields, responseFields } =
    line as Record<string, unknown>;
  if (typeof method !== "string" || typeof path !== "string" || !path.startsWith("/")) {
    return { kind: "malformed", error: "expected string fields method and path" };
  }
  const at = typeof ts === "string" ? Date.parse(ts) : Number.NaN;
  if (Number.isNaN(at)) return { kind: "malformed", error: "no ts" };
  const match = matcher.match(method, typeof query === "string" && query !== "" ? `${path}?${query}` : path);
  const known = sourceFromUserAgent(typeof userAgent === "string" ? userAgent : "", sourceName);
  // The proxy writes only the parts of the source it knew (issue 5 §7); --source still names them all.
  const recorded = SourceSchema.partial().safeParse(source ?? {});
  const lineDetails = Array.isArray(details) ? details.filter((d): d is string => typeof d === "string") : [];
  const hit: Hit = {
    at,
    method: method.toUpperCase(),
    operationId: match.operationId,
    ...(match.reason ? { reason: match.reason } : {}),
    path,
    status: typeof status === "number" ? status : null,
    source: recorded.success
      ? { ...known, ...recorded.data, ...(sourceName ? { name: sourceName } : {}) }
      : known,
    details: [...new Set([...(match.detail ? [match.detail] : []), ...lineDetails])].map((d) =>
      d.slice(0, 128),
    ),
  };
  const request = fieldsOf(requestFields);
  const response = fieldsOf(responseFields);
  if (request) hit.requestFields = request;
  if (response) hit.responseFields = response;
  return { kind: "hit", hit };
}

/** A line's `{fields, unknown}` of one body, when well formed. */
function fieldsOf(value: unknown): { fields: string[]; unknown: string[] } | null {
  const { fields, unknown } = (value ?? {}) as { fields?: unknown; unknown?: unknown };
  if (!Array.isArray(fields) || !Array.isArray(unknown)) return null;
  const strings = (list: unknown[]) => list.filter((item): item is string => typeof item === "string");
  return { fields: strings(fields), unknown: strings(unknown) };
}
