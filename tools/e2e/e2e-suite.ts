/** Runs the upstream e2e.test binary on a selection of tests and collects ginkgo's per-test results. */
import { spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { readGinkgoReport, type SpecResult } from "./ginkgo-report";

export interface E2eSuiteOptions {
  /** Path of e2e.test. */
  binary: string;
  /** The kubeconfig the tests use (here: one pointing through the proxy). */
  kubeconfig: string;
  /** `--ginkgo.focus` regexp. */
  focus: string;
  /** Working directory: e2e.log and ginkgo-report.json go here. */
  dir: string;
  /** `--ginkgo.timeout`, a Go duration (default 40m). */
  timeout?: string;
  /** Called for each finished spec: `• [1.2 seconds] <spec text and labels>` or `• [FAILED] […] …`. */
  onProgress?: (line: string) => void;
}

export interface E2eSuiteResult {
  exitCode: number;
  durationMs: number;
  specs: SpecResult[];
  logPath: string;
  reportPath: string;
}

/**
 * The flags for a cluster without nodes. `--num-nodes=0` stops the suite from requiring at least one
 * schedulable node; not-ready nodes stay at the default 0 allowed, so the framework still lists nodes
 * before the suite and after each test (`listCoreV1Node`, as on a real cluster) and finds none not ready.
 * `--provider=skeleton` is the no-cloud provider. Each test still gets its namespace, and the framework
 * waits for its default ServiceAccount and kube-root-ca.crt (kube-controller-manager provides both).
 */
export function e2eSuiteArgs(options: Omit<E2eSuiteOptions, "binary" | "dir">, reportPath: string): string[] {
  return [
    `--kubeconfig=${options.kubeconfig}`,
    "--provider=skeleton",
    "--num-nodes=0",
    "--disable-log-dump",
    `--ginkgo.focus=${options.focus}`,
    "--ginkgo.no-color",
    "--ginkgo.v",
    `--ginkgo.timeout=${options.timeout ?? "40m"}`,
    `--ginkgo.json-report=${reportPath}`,
  ];
}

/**
 * Runs e2e.test (under `nice`: the machine is shared) and waits for it to exit. A non-zero exit code is a
 * result, not an error: the per-spec states say what failed.
 * @throws Error when e2e.test cannot start or writes no JSON report.
 */
export async function runE2eSuite(options: E2eSuiteOptions): Promise<E2eSuiteResult> {
  const logPath = join(options.dir, "e2e.log");
  const reportPath = join(options.dir, "ginkgo-report.json");
  const log = createWriteStream(logPath);
  const started = Date.now();
  const child = spawn("nice", [options.binary, ...e2eSuiteArgs(options, reportPath)], {
    cwd: options.dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr.pipe(log, { end: false });
  // With --ginkgo.v each spec starts after a `---…` rule with its full text (plus labels) and ends in a
  // line starting with `•`: `• [1.2 seconds]`, `• [FAILED] [1.2 seconds]`, ….
  let afterRule = false;
  let spec = "";
  createInterface({ input: child.stdout }).on("line", (line) => {
    log.write(`${line}\n`);
    if (afterRule && line.startsWith("[")) spec = line;
    afterRule = /^-{20,}$/.test(line);
    if (line.startsWith("• [")) options.onProgress?.(`${line} ${spec}`);
  });
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  await new Promise((resolve) => log.end(resolve));
  if (!existsSync(reportPath)) {
    throw new Error(`e2e.test exited ${exitCode} without writing ${reportPath}; see ${logPath}`);
  }
  return {
    exitCode,
    durationMs: Date.now() - started,
    specs: readGinkgoReport(reportPath),
    logPath,
    reportPath,
  };
}
