import { escapeXml } from "./coverage-badge";
import type { EndpointCoverageRow } from "./endpoint-coverage";

/**
 * A selection's coverage as JUnit XML for CI test reports: one test suite for the release, one test case
 * per endpoint (class `apisnoop.<level>.<category>`), skipped when the selection did not hit it.
 */
export function coverageJunit(
  release: string,
  endpoints: readonly Pick<EndpointCoverageRow, "operationId" | "level" | "category" | "hits">[],
): string {
  const cases = endpoints.map(
    (e) =>
      `    <testcase classname="apisnoop.${e.level}.${escapeXml(e.category)}" name="${escapeXml(e.operationId)}">${e.hits > 0 ? "" : "<skipped/>"}</testcase>`,
  );
  const skipped = endpoints.filter((e) => e.hits <= 0).length;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="apisnoop coverage ${escapeXml(release)}" tests="${cases.length}" skipped="${skipped}" failures="0">\n${cases.join("\n")}\n  </testsuite>\n</testsuites>\n`;
}
