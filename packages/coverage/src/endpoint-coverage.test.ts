import { describe, expect, it } from "vitest";
import { parseApisnoopCoverage } from "./apisnoop-coverage";
import { type CoverageQueryRow, type EndpointCoverageRow, endpointCoverageRows } from "./endpoint-coverage";

const row = (overrides: Partial<EndpointCoverageRow>): EndpointCoverageRow => ({
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
});

describe("endpointCoverageRows", () => {
  const query: CoverageQueryRow & { description: string } = {
    ...row({}),
    hits: 5,
    hits2xx: 2,
    description: "not a column",
  };
  const upstream = parseApisnoopCoverage({
    release: "1.35.0",
    "total endpoints": 2,
    "tested endpoints": 1,
    endpoints: [{ endpoint: "listCoreV1Node", tested: true, conf_tested: true, tests: ["t"] }],
  });

  it("keeps only the columns, counts hits under the outcome and marks upstream tests", () => {
    const [any] = endpointCoverageRows([query], { outcome: "any", upstream });
    expect(any).toEqual(row({ hits: 5, upstreamTested: true }));
    const [ok] = endpointCoverageRows([{ ...query, operationId: "other" }], { outcome: "2xx", upstream });
    expect(ok).toMatchObject({ hits: 2, upstreamTested: false });
    const [unknown] = endpointCoverageRows([query], { outcome: "any", upstream: null });
    expect(unknown?.upstreamTested).toBeNull();
  });
});
