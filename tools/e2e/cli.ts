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
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { formatReportText } from "./conformance-report";
import { runConformanceThroughProxy } from "./conformance-run";
import { CONFORMANCE_TESTS, conformanceTestsOf, nodeConformanceTests } from "./conformance-tests";
import { ensureE2eBinary } from "./e2e-binary";
import { e2eWorkDir } from "./e2e-rig";
import { KEPT_RUN_FILES, RELEASE, reportKeptRun, writeRunReport } from "./run-report";

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

/**
 * `--report-only`: the report of the run kept in `--out DIR`, from its files (see {@link reportKeptRun}).
 */
function reportAgain(flags: ConformanceFlags): number {
  const outDir = flags.out ?? join(e2eWorkDir(), "last");
  for (const file of KEPT_RUN_FILES) {
    const path = join(outDir, file);
    if (!existsSync(path)) throw new UsageError(`--report-only: no ${path} (a run's --out DIR holds it)`);
  }
  const { report, specs, changed } = reportKeptRun(outDir, { only: flags.only, node: flags.node });
  if (specs === 0) throw new UsageError(`--only ${flags.only?.source} selects none of the run's tests`);
  console.log(formatReportText(report));
  console.log(
    `e2e: report of the kept run in ${outDir}/report.{txt,md,json}; ${changed} of ${report.hits} hits matched to another operation than when recorded`,
  );
  const ok = report.summary.passed === specs && report.summary.unexplained === 0;
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
  const report = writeRunReport(run.outDir, run.specs, run.observed, {
    node: flags.node,
    procs: flags.procs,
    durations: { ...run.durations },
    hits: run.hitCount,
  });
  console.log(formatReportText(report));
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
