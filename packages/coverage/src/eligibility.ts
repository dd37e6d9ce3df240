import type { Endpoint } from "@apisnoop/openapi";

/** One entry of apisnoop's `ineligible_endpoints.json`. */
export interface IneligibleEndpoint {
  endpoint: string;
  reason: string;
  link: string;
}

/** Parses apisnoop's `ineligible_endpoints.json` into a map by operationId; throws a one-line error. */
export function parseIneligible(json: unknown): Map<string, IneligibleEndpoint> {
  if (!Array.isArray(json)) throw new Error("ineligible endpoints: expected a JSON array");
  const out = new Map<string, IneligibleEndpoint>();
  for (const entry of json) {
    const { endpoint, reason, link } = (entry ?? {}) as Partial<IneligibleEndpoint>;
    if (typeof endpoint !== "string") throw new Error("ineligible endpoints: an entry has no 'endpoint'");
    out.set(endpoint, { endpoint, reason: String(reason ?? ""), link: String(link ?? "") });
  }
  return out;
}

/** Conformance-eligible (GUIDE §3): stable, not deprecated, not listed as ineligible. */
export function isConformanceEligible(endpoint: Endpoint, ineligible: ReadonlyMap<string, unknown>): boolean {
  return endpoint.level === "stable" && !endpoint.deprecated && !ineligible.has(endpoint.operationId);
}
