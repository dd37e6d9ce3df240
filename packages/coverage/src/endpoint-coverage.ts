import type { Endpoint } from "@apisnoop/openapi";
import type { ApisnoopCoverage } from "./apisnoop-coverage";

/** One endpoint of a release with its hits under a selection: a row of the CSV, a slice of a badge. */
export interface EndpointCoverageRow
  extends Pick<
    Endpoint,
    "operationId" | "method" | "path" | "level" | "category" | "group" | "version" | "kind" | "deprecated"
  > {
  conformanceEligible: boolean;
  hits: number;
  /** Tested by upstream e2e per apisnoop's published coverage; null when that was not read. */
  upstreamTested: boolean | null;
}

/** What `endpointCoverageRows` reads of each endpoint (packages/db's `getCoverage` rows fit). */
export type CoverageQueryRow = Omit<EndpointCoverageRow, "hits" | "upstreamTested"> & {
  hits: number;
  hits2xx: number;
};

/**
 * The rows the dashboard and `apisnoop export` show for a coverage query: only the columns above (a query
 * row carries more), hits counted under the outcome, and the upstream mark from apisnoop's published
 * coverage of the release (`null` for every row when there is none).
 */
export function endpointCoverageRows(
  rows: readonly CoverageQueryRow[],
  options: { outcome: "any" | "2xx"; upstream: ApisnoopCoverage | null | undefined },
): EndpointCoverageRow[] {
  const { outcome, upstream } = options;
  return rows.map((row) => ({
    operationId: row.operationId,
    method: row.method,
    path: row.path,
    level: row.level,
    category: row.category,
    group: row.group,
    version: row.version,
    kind: row.kind,
    deprecated: row.deprecated,
    conformanceEligible: row.conformanceEligible,
    // Under "2xx only" a hit is a successful call: the figure and the arc agree with `tested`.
    hits: outcome === "2xx" ? row.hits2xx : row.hits,
    upstreamTested: upstream ? (upstream.endpoints.get(row.operationId)?.tested ?? false) : null,
  }));
}
