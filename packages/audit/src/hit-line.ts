import type { RequestMatcher } from "@apisnoop/openapi";
import { type Hit, HitLineSchema, sourceFromUserAgent } from "@apisnoop/protocol";
import type { AuditOutcome } from "./audit-event";

/**
 * One line of a proxy hits file (`apisnoop proxy --out`, `HitLineSchema`) as a hit, re-matched against
 * `matcher` so the release is the one the import names, not whatever spec the proxy ran with. A line that
 * is not a hits-file line is malformed, with the first thing wrong with it.
 */
export function hitLineToHit(
  value: unknown,
  matcher: RequestMatcher,
  sourceName: string | null = null,
): AuditOutcome {
  if (!value || typeof value !== "object") return { kind: "malformed", error: "not an object" };
  const parsed = HitLineSchema.safeParse(value);
  if (!parsed.success) return { kind: "malformed", error: firstProblem(parsed.error.issues) };
  const line = parsed.data;
  const match = matcher.match(line.method, line.query !== "" ? `${line.path}?${line.query}` : line.path);
  // The proxy writes only the parts of the source it knew; --source still names them all.
  const source = { ...sourceFromUserAgent(line.userAgent ?? "", sourceName), ...line.source };
  if (sourceName) source.name = sourceName;
  const hit: Hit = {
    at: Date.parse(line.ts),
    method: line.method.toUpperCase(),
    operationId: match.operationId,
    ...(match.reason ? { reason: match.reason } : {}),
    path: line.path,
    status: line.status,
    source,
    details: [...new Set([...(match.detail ? [match.detail] : []), ...(line.details ?? [])])].map((d) =>
      d.slice(0, 128),
    ),
  };
  if (line.requestFields) hit.requestFields = line.requestFields;
  if (line.responseFields) hit.responseFields = line.responseFields;
  return { kind: "hit", hit };
}

/** The first problem of a line, named the way the import summary lists malformed lines. */
function firstProblem(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  const fields = issues.map((issue) => String(issue.path[0] ?? ""));
  if (fields.includes("method") || fields.includes("path")) return "expected string fields method and path";
  if (fields.includes("ts")) return "no ts";
  const [first] = issues;
  return first ? `${first.path.join(".") || "line"}: ${first.message}` : "not a hits-file line";
}
