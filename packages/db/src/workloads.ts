import type { SourceFilters } from "./filters";

/**
 * Workloads in SQL: each stored source carries its workload (protocol `workloadOf`, written at ingest;
 * null for e2e tests), so ranking and counting by workload happen in the database.
 */

/** SQL condition on `"Source"` aliased `s`: the source is a workload, not an e2e test. */
export const WORKLOAD_SOURCE = `s."workload" IS NOT NULL`;

/** SQL condition on `"Source"` aliased `s`: the source's e2e test is a conformance test. */
export const CONFORMANCE_SOURCE = `s."conformance"`;

/**
 * The source filters that select a workload's sources (what a link to its calls carries), or null for
 * sources without a user agent, which no filter selects. The inverse of protocol `workloadOf`'s names.
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
