import { kubernetesQuery } from "@apisnoop/openapi";
import type { Addon } from "../addon-chain";
import type { Flow } from "../flow";

/** One line of `--out hits.jsonl` (issue 4 §7). Nothing header-derived but the user agent, ever. */
export interface Hit {
  /** Request start, ISO 8601. */
  ts: string;
  method: string;
  /** Path without the query string. */
  path: string;
  /** Only Kubernetes' own query parameters, in the client's order and encoding, without `?`; "" when none. */
  query: string;
  /** The status the client got; 0 when it went away before any answer. */
  status: number;
  durationMs: number;
  operationId: string | null;
  /** Why nothing matched; only on unmatched hits. */
  reason?: string;
  userAgent: string | null;
}

/** Where recorded hits go: the JSON-lines file today, the dashboard uplink later. */
export interface HitSink {
  write(hit: Hit): void;
}

/** The hit a finished flow stands for. Pure: a function of the flow alone. */
export function hitFromFlow(flow: Flow): Hit {
  const { url } = flow.request;
  const q = url.indexOf("?");
  const hit: Hit = {
    ts: new Date(flow.startedAt).toISOString(),
    method: flow.request.method,
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? "" : kubernetesQuery(url.slice(q + 1)),
    status: flow.response?.status ?? 0,
    durationMs: Math.round((flow.durationMs ?? 0) * 1000) / 1000,
    operationId: flow.match?.operationId ?? null,
    userAgent: flow.request.userAgent,
  };
  if (hit.operationId === null) hit.reason = flow.match?.reason ?? "not matched";
  return hit;
}

/** Records every finished flow as a {@link Hit} into `sink`. Goes after the analysis addons in the chain. */
export function record(sink: HitSink): Addon {
  return {
    name: "record",
    done(flow) {
      sink.write(hitFromFlow(flow));
    },
  };
}
