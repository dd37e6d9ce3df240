import { type MatchResult, requestTargetWatches } from "@apisnoop/openapi";
import type { Addon } from "../addon-chain";
import type { Flow } from "../flow";

/**
 * Matches each flow once, against the spec snapshot it started with (about a microsecond): at the
 * response head, so the addons after it (field analysis deciding what to capture) know the endpoint and
 * whether the answer is a watch; or at completion for a flow that never got a response head (the
 * upstream failed, the client left). Without a spec the flow is unmatched, with a reason.
 */
export function matchOperation(): Addon {
  const match = (flow: Flow): void => {
    if (flow.match) return;
    const { method, url } = flow.request;
    flow.match = flow.spec ? flow.spec.matcher.match(method, url) : noSpec(url);
  };
  return { name: "match-operation", response: match, complete: match };
}

function noSpec(url: string): MatchResult {
  return { endpoint: null, operationId: null, watch: requestTargetWatches(url), reason: "no spec loaded" };
}
