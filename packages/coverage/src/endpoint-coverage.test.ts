import { describe, expect, it } from "vitest";
import { parseApisnoopCoverage } from "./apisnoop-coverage";
import { type CoverageQueryRow, endpointCoverageRows } from "./endpoint-coverage";
import { coverageRow } from "./testing";

describe("endpointCoverageRows", () => {
  const query: CoverageQueryRow & { description: string } = {
    ...coverageRow(),
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
    expect(any).toEqual(coverageRow({ hits: 5, upstreamTested: true }));
    const [ok] = endpointCoverageRows([{ ...query, operationId: "other" }], { outcome: "2xx", upstream });
    expect(ok).toMatchObject({ hits: 2, upstreamTested: false });
    const [unknown] = endpointCoverageRows([query], { outcome: "any", upstream: null });
    expect(unknown?.upstreamTested).toBeNull();
  });
});
