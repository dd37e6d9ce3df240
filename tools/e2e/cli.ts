/**
 * `npm run e2e:build` — build (or find warm) e2e.test.
 * `npm run e2e:conformance [-- --out DIR] [--run ID]` — run the selected conformance tests through the proxy against
 * the e2e rig and write the per-test comparison with apisnoop's published 1.34.0 data to DIR (default
 * `.rig/e2e/last`): report.txt, report.md, report.json, plus hits.jsonl, e2e.log, ginkgo-report.json.
 * Every hit carries the run ID (default `e2e-<start time>`), for `apisnoop compare --from run=A --to run=B`.
 * Exit 0 when every test passed and every difference is explained; 1 otherwise.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { sharedApisnoopCoverage, sharedCatalog } from "@apisnoop/openapi/testing";
import { kubeVersions } from "../rig/kube-bin";
import {
  type ConformanceReport,
  classLegend,
  formatReportMarkdown,
  formatReportText,
  reportTests,
} from "./conformance-report";
import { runConformanceThroughProxy } from "./conformance-run";
import { CONFORMANCE_TESTS } from "./conformance-tests";
import { DIFFERENCE_CLASSES } from "./difference-classes";
import { ensureE2eBinary } from "./e2e-binary";
import { compareTests, summarizeComparison } from "./endpoint-comparison";
import { publishedEndpointsByTest } from "./test-endpoints";

/** apisnoop's release the comparison is against: the data set in ../shared/k8s/apisnoop/. */
const RELEASE = "1.34";

async function conformance(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { out: { type: "string" }, run: { type: "string" } } });
  const catalog = sharedCatalog(RELEASE);
  const run = await runConformanceThroughProxy({
    tests: CONFORMANCE_TESTS,
    catalog,
    outDir: values.out,
    ...(values.run ? { run: values.run } : {}),
  });
  const published = publishedEndpointsByTest(sharedApisnoopCoverage(RELEASE).endpoints);
  const comparisons = compareTests(run.specs, run.observed.byTest, published);
  const report: ConformanceReport = {
    release: `${RELEASE}.0`,
    kubeVersion: kubeVersions().kube,
    generatedAt: new Date().toISOString(),
    durations: { ...run.durations },
    hits: run.hitCount,
    unattributedHits: run.observed.unattributedHits,
    summary: summarizeComparison(comparisons),
    classes: classLegend(DIFFERENCE_CLASSES),
    tests: reportTests(comparisons, run.specs, run.observed.nonStableByTest, run.observed.unmatchedByTest),
  };
  const text = formatReportText(report);
  writeFileSync(join(run.outDir, "report.txt"), `${text}\n`);
  writeFileSync(join(run.outDir, "report.md"), `${formatReportMarkdown(report)}\n`);
  writeFileSync(join(run.outDir, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
  console.log(text);
  console.log(`e2e: report in ${run.outDir}/report.{txt,md,json}; hits counted under run ${run.run}`);
  const missing = CONFORMANCE_TESTS.length - run.specs.length;
  if (missing > 0) console.log(`e2e: ${missing} selected tests did not run (focus mismatch?)`);
  const ok = report.summary.passed === CONFORMANCE_TESTS.length && report.summary.unexplained === 0;
  return ok ? 0 : 1;
}

async function main(command: string | undefined, args: string[]): Promise<number> {
  switch (command) {
    case "build": {
      const started = Date.now();
      const binary = ensureE2eBinary();
      console.log(`e2e:build: ${binary} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
      return 0;
    }
    case "conformance":
      return conformance(args);
    default:
      console.error("usage: tsx tools/e2e/cli.ts build|conformance [--out DIR] [--run ID]");
      return 2;
  }
}

main(process.argv[2], process.argv.slice(3)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
