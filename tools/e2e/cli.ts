/**
 * `npm run e2e:build` — build (or find warm) e2e.test and the ginkgo CLI.
 * `npm run e2e:conformance [-- FLAGS]` — run conformance tests through the proxy against the e2e rig and
 * write the per-test comparison with apisnoop's published 1.34.0 data to DIR (default `.rig/e2e/last`):
 * report.txt, report.md, report.json, plus hits.jsonl, e2e.log, ginkgo-report.json. By default every
 * conformance test the rig's node supports, on a rig with its node, in 4 parallel processes; `--api-only`
 * the API-only selection on a rig without a node; `--only REGEXP` a part of the selection; `--procs N`.
 * `--run ID`: every hit carries it (default `e2e-<start time>`), for `apisnoop compare --from run=A --to run=B`.
 * The proxy's cost in wall time is `npm run bench:conformance`'s.
 * Exit 0 when every test passed and every difference is explained; 1 otherwise; 2 on a usage error.
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
import { CONFORMANCE_TESTS, conformanceTestsOf, nodeConformanceTests } from "./conformance-tests";
import { DIFFERENCE_CLASSES } from "./difference-classes";
import { ensureE2eBinary } from "./e2e-binary";
import { e2eWorkDir } from "./e2e-rig";
import { compareTests, summarizeComparison } from "./endpoint-comparison";
import { publishedEndpointsByTest } from "./test-endpoints";

/** apisnoop's release the comparison is against: the data set in ../shared/k8s/apisnoop/. */
const RELEASE = "1.34";

/** A one-line usage error (exit 2). */
class UsageError extends Error {}

/** The parsed `conformance` flags. */
interface ConformanceFlags {
  out?: string;
  run?: string;
  node: boolean;
  procs: number;
  only?: RegExp;
}

function conformanceFlags(args: string[]): ConformanceFlags {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: "string" },
      "api-only": { type: "boolean", default: false },
      procs: { type: "string" },
      only: { type: "string" },
      run: { type: "string" },
    },
  });
  const node = !values["api-only"];
  const procs = values.procs === undefined ? (node ? 4 : 1) : Number(values.procs);
  if (!Number.isInteger(procs) || procs < 1 || procs > 32) {
    throw new UsageError(`--procs must be a whole number from 1 to 32, not ${values.procs}`);
  }
  let only: RegExp | undefined;
  if (values.only !== undefined) {
    try {
      only = new RegExp(values.only);
    } catch (error) {
      throw new UsageError(`--only is not a regular expression: ${(error as Error).message}`);
    }
  }
  return { out: values.out, run: values.run, node, procs, only };
}

async function conformance(args: string[]): Promise<number> {
  const flags = conformanceFlags(args);
  const catalog = sharedCatalog(RELEASE);
  const binary = ensureE2eBinary();
  let tests = flags.node ? nodeConformanceTests(conformanceTestsOf(binary)) : [...CONFORMANCE_TESTS];
  if (flags.only) {
    const only = flags.only;
    tests = tests.filter((name) => only.test(name));
    if (tests.length === 0) throw new UsageError(`--only ${only.source} selects none of the tests`);
  }
  const outDir = flags.out ?? join(e2eWorkDir(), "last");
  const run = await runConformanceThroughProxy({
    tests,
    catalog,
    node: flags.node,
    procs: flags.procs,
    outDir,
    ...(flags.run ? { run: flags.run } : {}),
  });
  const published = publishedEndpointsByTest(sharedApisnoopCoverage(RELEASE).endpoints);
  const comparisons = compareTests(run.specs, run.observed.byTest, published);
  const report: ConformanceReport = {
    release: `${RELEASE}.0`,
    kubeVersion: kubeVersions().kube,
    generatedAt: new Date().toISOString(),
    node: flags.node,
    procs: flags.procs,
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
  const missing = tests.length - run.specs.length;
  if (missing > 0) console.log(`e2e: ${missing} selected tests did not run (focus mismatch?)`);
  const ok = report.summary.passed === tests.length && report.summary.unexplained === 0;
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
      console.error(
        "usage: tsx tools/e2e/cli.ts build | conformance [--api-only] [--procs N] [--only REGEXP] [--out DIR] [--run ID]",
      );
      return 2;
  }
}

main(process.argv[2], process.argv.slice(3)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`e2e: ${error instanceof Error ? error.message : error}`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
