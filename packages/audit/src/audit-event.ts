import type { RequestMatcher } from "@apisnoop/openapi";
import { type Hit, type Source, sourceFromUserAgent } from "@apisnoop/protocol";

/** Audit verbs as HTTP methods: resource verbs (RequestInfo) and the lower-cased methods of non-resource requests. */
const VERB_METHODS: Record<string, string> = {
  get: "GET",
  list: "GET",
  watch: "GET",
  create: "POST",
  post: "POST",
  update: "PUT",
  put: "PUT",
  patch: "PATCH",
  delete: "DELETE",
  deletecollection: "DELETE",
  head: "HEAD",
  options: "OPTIONS",
};

/** Sources by user agent and name: a log has few clients, so hits share Source objects (cheap to fold). */
const sourceCache = new Map<string, Source>();

function sourceOf(userAgent: string, name: string | null): Source {
  const key = name === null ? userAgent : `${userAgent}\u0000${name}`;
  let source = sourceCache.get(key);
  if (!source) {
    if (sourceCache.size >= 10_000) sourceCache.clear();
    source = sourceFromUserAgent(userAgent, name);
    sourceCache.set(key, source);
  }
  return source;
}

/** What became of one audit event. */
export type AuditOutcome =
  | { kind: "hit"; hit: Hit }
  /** An event of another stage (RequestReceived, ResponseStarted): the request is counted at ResponseComplete. */
  | { kind: "skipped" }
  | { kind: "malformed"; error: string };

/**
 * Turns one audit.k8s.io/v1 Event into a hit: verb + requestURI through the matcher, the e2e test from the
 * user agent (GUIDE §3), the status from responseStatus.code. Only ResponseComplete (and Panic) events
 * count, so a request logged at several stages counts once.
 */
export function auditEventToHit(
  event: unknown,
  matcher: RequestMatcher,
  sourceName: string | null = null,
): AuditOutcome {
  if (!event || typeof event !== "object") return { kind: "malformed", error: "not an object" };
  const e = event as Record<string, unknown>;
  if (e.kind !== "Event" || typeof e.apiVersion !== "string" || !e.apiVersion.startsWith("audit.k8s.io/")) {
    return { kind: "malformed", error: "not an audit.k8s.io Event" };
  }
  if (e.stage !== "ResponseComplete" && e.stage !== "Panic") return { kind: "skipped" };
  const verb = typeof e.verb === "string" ? e.verb : "";
  const method = VERB_METHODS[verb];
  if (!method) return { kind: "malformed", error: `unknown verb '${verb.slice(0, 64)}'` };
  const uri = e.requestURI;
  if (typeof uri !== "string" || !uri.startsWith("/")) return { kind: "malformed", error: "no requestURI" };
  const when = Date.parse(String(e.stageTimestamp ?? e.requestReceivedTimestamp ?? ""));
  if (Number.isNaN(when)) return { kind: "malformed", error: "no stageTimestamp" };
  const code = (e.responseStatus as { code?: unknown } | undefined)?.code;
  const match = matcher.match(method, uri);
  const query = uri.indexOf("?");
  const details: string[] = [];
  if (match.detail) details.push(match.detail);
  if (query !== -1 && /(?:^|&)dryRun=All(?:&|$)/.test(uri.slice(query + 1))) details.push("dryRun");
  return {
    kind: "hit",
    hit: {
      at: when,
      method,
      operationId: match.operationId,
      ...(match.reason ? { reason: match.reason } : {}),
      path: query === -1 ? uri : uri.slice(0, query),
      status: typeof code === "number" ? code : e.stage === "Panic" ? 500 : null,
      source: sourceOf(typeof e.userAgent === "string" ? e.userAgent : "", sourceName),
      details,
    },
  };
}
