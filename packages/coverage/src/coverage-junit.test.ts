import { describe, expect, it } from "vitest";
import { coverageJunit } from "./coverage-junit";
import { coverageRow } from "./testing";

describe("coverageJunit", () => {
  it("writes one case per endpoint, skipped when not hit, escaped", () => {
    const xml = coverageJunit("1.35", [
      coverageRow({ hits: 1 }),
      coverageRow({ operationId: "a&b", category: "<c>", hits: 0, level: "beta" }),
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
