/** Runs the upstream e2e.test binary on a selection of tests and collects ginkgo's per-test results. */
import { spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { dirname, join } from "node:path";
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
  /**
   * The cluster runs pods (a rig with its node): the suite then checks its schedulable nodes as on any
   * cluster, and takes its test images from `repoList` (`--kube-test-repo-list`).
   */
  node?: { repoList: string };
  /**
   * Parallel processes (ginkgo's CLI runs e2e.test that many times, `[Serial]` tests alone at the end);
   * 1 (default) runs e2e.test itself.
   */
  procs?: number;
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
 * The command line: e2e.test itself, or ginkgo's CLI running it in `procs` processes. For a cluster
 * without nodes, `--num-nodes=0` stops the suite from requiring at least one schedulable node; not-ready
 * nodes stay at the default 0 allowed, so the framework still lists nodes before the suite and after each
 * test (`listCoreV1Node`, as on a real cluster) and finds none not ready.
 * With a node, the suite counts the schedulable nodes itself and takes its images from the repo list.
 * `--provider=skeleton` is the no-cloud provider. Each test still gets its namespace, and the framework
 * waits for its default ServiceAccount and kube-root-ca.crt (kube-controller-manager provides both).
 */
export function e2eSuiteCommand(
  options: Omit<E2eSuiteOptions, "dir" | "onProgress">,
  reportPath: string,
): string[] {
  const suiteFlags = [
    `--kubeconfig=${options.kubeconfig}`,
    "--provider=skeleton",
    ...(options.node ? [`--kube-test-repo-list=${options.node.repoList}`] : ["--num-nodes=0"]),
    "--disable-log-dump",
  ];
  const ginkgoFlags = [
    `focus=${options.focus}`,
    "no-color",
    "v",
    `timeout=${options.timeout ?? "40m"}`,
    `json-report=${reportPath}`,
  ];
  const procs = options.procs ?? 1;
  if (procs <= 1) return [options.binary, ...suiteFlags, ...ginkgoFlags.map((flag) => `--ginkgo.${flag}`)];
  // ginkgo's CLI (built next to e2e.test) takes ginkgo's flags and hands the suite's to every process.
  const ginkgo = join(dirname(options.binary), "ginkgo");
  return [
    ginkgo,
    `--procs=${procs}`,
    ...ginkgoFlags.map((flag) => `--${flag}`),
    options.binary,
    "--",
    ...suiteFlags,
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
  const child = spawn("nice", e2eSuiteCommand(options, reportPath), {
    cwd: options.dir,
    // The suite resolves many images at package init, before flags are parsed: only the environment
    // variable reaches those.
    env: options.node ? { ...process.env, KUBE_TEST_REPO_LIST: options.node.repoList } : process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr.pipe(log, { end: false });
  // With -v a spec run by e2e.test itself starts after a `---…` rule with its full text (plus labels) and
  // ends in a line starting with `•`: `• [1.2 seconds]`, `• [FAILED] [1.2 seconds]`, …; a failed spec, and
  // every spec of a parallel run (reported whole when it ends), has its text on the line after the `•`.
  let afterRule = false;
  let spec = "";
  let ended: string | undefined;
  createInterface({ input: child.stdout }).on("line", (line) => {
    log.write(`${line}\n`);
    if (ended !== undefined) {
      options.onProgress?.(`${ended} ${line.startsWith("[") ? line : spec}`);
      ended = undefined;
    }
    if (afterRule && line.startsWith("[")) spec = line;
    afterRule = /^-{20,}$/.test(line);
    if (line.startsWith("• [")) ended = line;
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
