/**
 * A run's report written next to its files (report.txt, report.md, report.json), right after the run or
 * again later from the files a run keeps (`npm run e2e:conformance -- --report-only`).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sharedApisnoopCoverage, sharedCatalog } from "@apisnoop/openapi/testing";
import { kubeVersions } from "../rig/kube-bin";
import {
  type ConformanceReport,
  classLegend,
  formatReportMarkdown,
  formatReportText,
  reportTests,
} from "./conformance-report";
import { DIFFERENCE_CLASSES } from "./difference-classes";
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
export const RELEASE = "1.34";

/** The files of a run that its report is computed from. */
export const KEPT_RUN_FILES = ["hits.jsonl", "ginkgo-report.json"] as const;

/** What a report says about its run besides the comparison. */
export interface RunFacts {
  node: boolean;
  procs: number;
  durations: Record<string, number>;
  hits: number;
}

/** Compares, classifies and writes report.{txt,md,json} into `outDir`. */
export function writeRunReport(
  outDir: string,
  specs: readonly SpecResult[],
  observed: ObservedEndpoints,
  facts: RunFacts,
): ConformanceReport {
  const published = publishedEndpointsByTest(sharedApisnoopCoverage(RELEASE).endpoints);
  const comparisons = compareTests(specs, observed.byTest, published, {
    succeeded: observed.succeededByTest,
  });
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
  writeFileSync(join(outDir, "report.txt"), `${formatReportText(report)}\n`);
  writeFileSync(join(outDir, "report.md"), `${formatReportMarkdown(report)}\n`);
  writeFileSync(join(outDir, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

/**
 * The report of a kept run, from `outDir`'s hits.jsonl and ginkgo-report.json: the hits matched again by
 * today's matcher ({@link rematchHits}), the differences classified by today's classes, written over the
 * run's report files. The run's facts its files do not hold (node, processes, phase times) come from the
 * report.json a previous report left there.
 * @param options.only keeps the tests whose name it matches; `node` is used when no report.json says.
 * @returns the report, the number of tests compared and of hits whose operation changed.
 */
export function reportKeptRun(
  outDir: string,
  options: { only?: RegExp; node: boolean },
): { report: ConformanceReport; specs: number; changed: number } {
  const only = options.only;
  const specs = readGinkgoReport(join(outDir, "ginkgo-report.json")).filter(
    (spec) => !only || only.test(spec.name),
  );
  let previous: Partial<ConformanceReport> = {};
  try {
    previous = JSON.parse(readFileSync(join(outDir, "report.json"), "utf8")) as Partial<ConformanceReport>;
  } catch {
    // No report yet (or not JSON): the facts stay unknown.
  }
  const catalog = sharedCatalog(RELEASE);
  const { hits, changed } = rematchHits(readHits(join(outDir, "hits.jsonl")), catalog);
  const report =
    specs.length === 0
      ? (previous as ConformanceReport)
      : writeRunReport(outDir, specs, observedEndpointsByTest(hits, catalog), {
          node: previous.node ?? options.node,
          procs: previous.procs ?? 1,
          durations: previous.durations ?? {},
          hits: hits.length,
        });
  return { report, specs: specs.length, changed };
}
