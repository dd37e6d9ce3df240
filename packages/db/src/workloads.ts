import { E2E_PREFIX, type Source } from "@apisnoop/protocol";
import type { SourceFilters } from "./filters";
import { chartName } from "./source-match";

/**
 * Workloads: what real software calls the API, as opposed to test suites. Each stored source carries its
 * workload (`workloadOf`, written at ingest; null for e2e tests), so ranking and counting by workload
 * happen in the database, and totals per workload do not grow with pod churn.
 */

/**
 * The workload a source belongs to, or null for an e2e test (a test name, or an `e2e.test` user agent:
 * the suite's set-up calls carry no test name). Workloads are named `chart <name>` (the Helm chart,
 * `chartName`: every version and install of it one workload), else `sa <namespace>/<service account>` or
 * `namespace <namespace>`, else the user agent's product token (`kubectl`, every version of it). Names
 * never collide: a product token has neither spaces nor slashes, and chart, namespace and service account
 * names have neither.
 */
export function workloadOf(
  source: Pick<Source, "userAgent" | "e2eTest" | "chart" | "namespace" | "serviceAccount">,
): string | null {
  if (source.e2eTest !== null || source.userAgent.startsWith(E2E_PREFIX)) return null;
  if (source.chart) return `chart ${chartName(source.chart)}`;
  if (source.namespace) {
    return source.serviceAccount
      ? `sa ${source.namespace}/${source.serviceAccount}`
      : `namespace ${source.namespace}`;
  }
  return /^[^/ ]+/.exec(source.userAgent)?.[0] ?? "(no user agent)";
}

/** SQL condition on `"Source"` aliased `s`: the source is a workload, not an e2e test. */
export const WORKLOAD_SOURCE = `s."workload" IS NOT NULL`;

/** SQL condition on `"Source"` aliased `s`: the source's e2e test is a conformance test. */
export const CONFORMANCE_SOURCE = `s."conformance"`;

/**
 * The source filters that select a workload's sources (what a link to its calls carries), or null for
 * sources without a user agent, which no filter selects. The inverse of `workloadOf`'s names.
 */
export function workloadFilters(workload: string): SourceFilters | null {
  if (workload === "(no user agent)") return null;
  const space = workload.indexOf(" ");
  const kind = space === -1 ? "" : workload.slice(0, space);
  const rest = workload.slice(space + 1);
  if (kind === "chart") return { chart: rest };
  if (kind === "sa") {
    const slash = rest.indexOf("/");
    return { namespace: rest.slice(0, slash), serviceAccount: rest.slice(slash + 1) };
  }
  if (kind === "namespace") return { namespace: rest };
  return { userAgent: workload };
}
