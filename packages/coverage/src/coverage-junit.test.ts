import { describe, expect, it } from "vitest";
import { coverageJunit } from "./coverage-junit";
import type { EndpointCoverageRow } from "./endpoint-coverage";

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

describe("coverageJunit", () => {
  it("writes one case per endpoint, skipped when not hit, escaped", () => {
    const xml = coverageJunit("1.35", [
      row({ hits: 1 }),
      row({ operationId: "a&b", category: "<c>", hits: 0, level: "beta" }),
    ]);
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n' +
        '  <testsuite name="apisnoop coverage 1.35" tests="2" skipped="1" failures="0">\n' +
        '    <testcase classname="apisnoop.stable.core" name="listCoreV1Node"></testcase>\n' +
        '    <testcase classname="apisnoop.beta.&#60;c&#62;" name="a&#38;b"><skipped/></testcase>\n' +
        "  </testsuite>\n</testsuites>\n",
    );
  });
});
