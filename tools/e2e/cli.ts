/**
 * `npm run e2e:build` — build (or find warm) e2e.test and the ginkgo CLI.
 * `npm run e2e:conformance [-- FLAGS]` — run conformance tests through the proxy against the e2e rig and
 * write the per-test comparison with apisnoop's published 1.34.0 data to DIR (default `.rig/e2e/last`):
 * report.txt, report.md, report.json, plus hits.jsonl, e2e.log, ginkgo-report.json. By default every
 * conformance test the rig's node supports, on a rig with its node, in 4 parallel processes; `--api-only`
 * the API-only selection on a rig without a node; `--only REGEXP` a part of the selection; `--procs N`.
 * `--run ID`: every hit carries it (default `e2e-<start time>`), for `apisnoop compare --from run=A --to run=B`.
 * `--report-only`: no suite run; the report is computed again from DIR's hits.jsonl and ginkgo-report.json
 * (the hits matched again by today's matcher, the differences classified by today's classes).
 * The proxy's cost in wall time is `npm run bench:conformance`'s.
 * Exit 0 when every test passed and every difference is explained; 1 otherwise; 2 on a usage error.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
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
import { readGinkgoReport, type SpecResult } from "./ginkgo-report";
import {
  type ObservedEndpoints,
  observedEndpointsByTest,
  publishedEndpointsByTest,
  readHits,
  rematchHits,
} from "./test-endpoints";

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
  reportOnly: boolean;
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
      "report-only": { type: "boolean", default: false },
    },
  });
  if (values["report-only"] && (values.procs !== undefined || values.run !== undefined)) {
    throw new UsageError("--report-only runs no suite: --procs and --run do not apply");
  }
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
  return { out: values.out, run: values.run, node, procs, only, reportOnly: values["report-only"] };
}

/** What a report says about its run besides the comparison. */
interface RunFacts {
  node: boolean;
  procs: number;
  durations: Record<string, number>;
  hits: number;
}

/** Compares, classifies and writes report.{txt,md,json} into `outDir`; prints the text. */
function writeReport(
  outDir: string,
  specs: readonly SpecResult[],
  observed: ObservedEndpoints,
  facts: RunFacts,
): ConformanceReport {
  const published = publishedEndpointsByTest(sharedApisnoopCoverage(RELEASE).endpoints);
  const comparisons = compareTests(specs, observed.byTest, published);
  const report: ConformanceReport = {
    release: `${RELEASE}.0`,
    kubeVersion: kubeVersions().kube,
    generatedAt: new Date().toISOString(),
    node: facts.node,
    procs: facts.procs,
    durations: { ...facts.durations },
    hits: facts.hits,
    unattributedHits: observed.unattributedHits,
    summary: summarizeComparison(comparisons),
    classes: classLegend(DIFFERENCE_CLASSES),
    tests: reportTests(comparisons, specs, observed.nonStableByTest, observed.unmatchedByTest),
  };
  const text = formatReportText(report);
  writeFileSync(join(outDir, "report.txt"), `${text}\n`);
  writeFileSync(join(outDir, "report.md"), `${formatReportMarkdown(report)}\n`);
  writeFileSync(join(outDir, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
  console.log(text);
  return report;
}

/**
 * `--report-only`: the report of a kept run, from its hits.jsonl and ginkgo-report.json. The run's facts the
 * files do not hold (node, processes, phase times) come from the report.json a previous report left there.
 */
function reportAgain(flags: ConformanceFlags): number {
  const outDir = flags.out ?? join(e2eWorkDir(), "last");
  const hitsPath = join(outDir, "hits.jsonl");
  const ginkgoPath = join(outDir, "ginkgo-report.json");
  for (const file of [hitsPath, ginkgoPath]) {
    if (!existsSync(file)) throw new UsageError(`--report-only: no ${file} (a run's --out DIR holds it)`);
  }
  let specs = readGinkgoReport(ginkgoPath);
  if (flags.only) {
    const only = flags.only;
    specs = specs.filter((spec) => only.test(spec.name));
    if (specs.length === 0) throw new UsageError(`--only ${only.source} selects none of the run's tests`);
  }
  const previousPath = join(outDir, "report.json");
  const previous = existsSync(previousPath)
    ? (JSON.parse(readFileSync(previousPath, "utf8")) as Partial<ConformanceReport>)
    : {};
  const catalog = sharedCatalog(RELEASE);
  const { hits, changed } = rematchHits(readHits(hitsPath), catalog);
  const report = writeReport(outDir, specs, observedEndpointsByTest(hits, catalog), {
    node: previous.node ?? flags.node,
    procs: previous.procs ?? 1,
    durations: previous.durations ?? {},
    hits: hits.length,
  });
  console.log(
    `e2e: report of the kept run in ${outDir}/report.{txt,md,json}; ${changed} of ${hits.length} hits matched to another operation than when recorded`,
  );
  const ok = report.summary.passed === specs.length && report.summary.unexplained === 0;
  return ok ? 0 : 1;
}

async function conformance(args: string[]): Promise<number> {
  const flags = conformanceFlags(args);
  if (flags.reportOnly) return reportAgain(flags);
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
  const report = writeReport(run.outDir, run.specs, run.observed, {
    node: flags.node,
    procs: flags.procs,
    durations: { ...run.durations },
    hits: run.hitCount,
  });
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
        "usage: tsx tools/e2e/cli.ts build | conformance [--api-only] [--procs N] [--only REGEXP] [--out DIR] [--run ID] [--report-only]",
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
