import type { RequestMatcher } from "@apisnoop/openapi";
import type { Addon } from "../addon-chain";

/**
 * Matches each finished flow to its operationId with the current spec's matcher. Runs at `complete`, once
 * the upstream's last byte is in (about a microsecond: the counted hit needs it). `currentMatcher` is read
 * per flow because the spec is refreshed when CRDs change; null (no spec yet) leaves the flow unmatched
 * with a reason.
 */
export function matchOperation(currentMatcher: () => RequestMatcher | null): Addon {
  return {
    name: "match-operation",
    complete(flow) {
      const matcher = currentMatcher();
      flow.match = matcher
        ? matcher.match(flow.request.method, flow.request.url)
        : { operationId: null, reason: "no spec loaded" };
    },
  };
}
