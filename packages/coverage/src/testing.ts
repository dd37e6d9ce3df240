import type { EndpointCoverageRow } from "./endpoint-coverage";

/** Test support: one endpoint's coverage row (`listCoreV1Node`, stable, hit 4 times) with `overrides`. */
export function coverageRow(overrides: Partial<EndpointCoverageRow> = {}): EndpointCoverageRow {
  return {
    operationId: "listCoreV1Node",
    method: "GET",
    path: "/api/v1/nodes",
    level: "stable",
    category: "core",
    group: "",
    version: "v1",
    kind: "Node",
    deprecated: false,
    conformanceEligible: true,
    hits: 4,
    upstreamTested: true,
    ...overrides,
  };
}
