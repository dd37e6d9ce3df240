/**
 * One conformance run through the proxy: e2e.test (built if needed) -> apisnoop proxy -> the e2e rig's
 * kube-apiserver, every request recorded to hits.jsonl with e2e.test's user agent (`… -- <test name>`).
 */
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { EndpointCatalog } from "@apisnoop/openapi";
import { proxiedKubeconfig, startProxy } from "@apisnoop/proxy";
import { loadRigImages } from "../images/rig-load";
import type { RigState } from "../rig/rig";
import { ginkgoFocus } from "./conformance-tests";
import { ensureE2eBinary } from "./e2e-binary";
import { e2eWorkDir, startE2eRig } from "./e2e-rig";
import { runE2eSuite } from "./e2e-suite";
import type { SpecResult } from "./ginkgo-report";
import { type ObservedEndpoints, observedEndpointsByTest, readHits } from "./test-endpoints";
import { e2eTestImages, writeTestImageRepoList } from "./test-images";

export interface ConformanceRunOptions {
  tests: readonly string[];
  /** Catalog of the release the proxy's operationIds are classified with (stable or not). */
  catalog: EndpointCatalog;
  /** Output directory (default `.rig/e2e/last`); the files of a previous run in it are replaced. */
  outDir?: string;
  /**
   * The run every hit is counted under (the proxy's `--run`), so a dashboard fed by several runs compares
   * them (`apisnoop compare --from run=A --to run=B`); default: {@link defaultRunId}.
   */
  run?: string;
  /** Run on a rig with its node, the test images built and imported (for tests that run pods). */
  node?: boolean;
  /** Parallel e2e processes (default 1). */
  procs?: number;
  log?: (line: string) => void;
}

/** A run id naming when the run started: `e2e-20261206T051500Z`. */
export function defaultRunId(now = new Date()): string {
  return `e2e-${now.toISOString().slice(0, 19).replace(/[-:]/g, "")}Z`;
}

/** Wall-clock seconds of each phase. */
export interface RunDurations {
  build: number;
  rig: number;
  suite: number;
  total: number;
}

export interface ConformanceRun {
  outDir: string;
  /** The run id every hit carries. */
  run: string;
  hitsPath: string;
  specs: SpecResult[];
  /** e2e.test's exit code (non-zero when a spec failed). */
  exitCode: number;
  observed: ObservedEndpoints;
  hitCount: number;
  rigStartedHere: boolean;
  durations: RunDurations;
}

/** The files a run writes into its output directory (the proxy appends to hits.jsonl, so it must go first). */
export const RUN_FILES = [
  "hits.jsonl",
  "proxy.log",
  "e2e.log",
  "ginkgo-report.json",
  "kubeconfig-e2e-proxied.yaml",
  "kube-test-repo-list.yaml",
  "report.txt",
  "report.md",
  "report.json",
] as const;

const seconds = (since: number) => Math.round((Date.now() - since) / 100) / 10;

/**
 * Builds the e2e test images (cached), imports them into the rig's node and writes the repo list that
 * points e2e.test at them, into `dir`.
 * @returns what {@link runE2eSuite} takes as `node`.
 */
export function prepareTestImages(
  state: RigState,
  dir: string,
  log: (line: string) => void,
): { repoList: string } {
  const started = Date.now();
  const images = loadRigImages(e2eTestImages(), log, state);
  log(`e2e: ${images.length} test images on the node (${seconds(started)}s)`);
  return { repoList: writeTestImageRepoList(dir) };
}

/**
 * Builds e2e.test if needed, starts the e2e rig (with kube-controller-manager) if it is down, starts the
 * proxy in front of it, runs `tests` with a kubeconfig pointing through the proxy, then stops what it started.
 * @throws Error when a component cannot start; failing tests are results, see `specs`.
 */
export async function runConformanceThroughProxy(options: ConformanceRunOptions): Promise<ConformanceRun> {
  const log = options.log ?? ((line: string) => console.log(line));
  const outDir = options.outDir ?? join(e2eWorkDir(), "last");
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  // Only this run's own files go, never the directory: --out may name one that holds other things.
  for (const file of RUN_FILES) rmSync(join(outDir, file), { force: true });
  const runStart = Date.now();
  const run = options.run ?? defaultRunId(new Date(runStart));

  const binary = ensureE2eBinary();
  const build = seconds(runStart);

  const rigStart = Date.now();
  const rig = await startE2eRig(log, options.node ?? false);
  const rigSeconds = seconds(rigStart);
  log(`e2e: rig ${rig.started ? "started" : "already up"} at ${rig.state.server} (${rigSeconds}s)`);
  let node: { repoList: string } | undefined;
  try {
    if (options.node) node = prepareTestImages(rig.state, outDir, log);
  } catch (error) {
    await rig.release();
    throw error;
  }

  const hitsPath = join(outDir, "hits.jsonl");
  const proxyLog = join(outDir, "proxy.log");
  writeFileSync(proxyLog, "");
  let suiteSeconds = 0;
  let suite: Awaited<ReturnType<typeof runE2eSuite>>;
  try {
    const proxy = await startProxy({
      kubeconfig: rig.state.kubeconfigs.admin,
      listen: { host: "127.0.0.1", port: 0 },
      adminListen: null,
      spec: "live",
      out: hitsPath,
      run,
      caDir: join(outDir, "ca"),
      log: (line) => appendFileSync(proxyLog, `${line}\n`),
    });
    try {
      // The e2e identity's token, with the server swapped for the proxy (the file is 0600, under .rig/).
      const kubeconfig = join(outDir, "kubeconfig-e2e-proxied.yaml");
      writeFileSync(
        kubeconfig,
        proxiedKubeconfig({
          from: rig.state.kubeconfigs.e2e,
          proxyUrl: proxy.url,
          mode: "reverse",
          caPem: proxy.ca.certificatePem,
        }),
        { mode: 0o600 },
      );
      log(
        `e2e: proxy ${proxy.url} -> ${rig.state.server}, run ${run}; running ${options.tests.length} tests`,
      );
      const suiteStart = Date.now();
      let done = 0;
      suite = await runE2eSuite({
        binary,
        kubeconfig,
        focus: ginkgoFocus(options.tests),
        dir: outDir,
        node,
        procs: options.procs,
        // Pod tests wait for real pods: the whole node selection takes about 45 minutes in 4 processes here.
        timeout: options.node ? "4h" : undefined,
        onProgress: (line) => log(`e2e: [${++done}/${options.tests.length}] ${line}`),
      });
      suiteSeconds = seconds(suiteStart);
    } finally {
      await proxy.close();
    }
  } finally {
    await rig.release();
  }

  const hits = readHits(hitsPath);
  return {
    outDir,
    run,
    hitsPath,
    specs: suite.specs,
    exitCode: suite.exitCode,
    observed: observedEndpointsByTest(hits, options.catalog),
    hitCount: hits.length,
    rigStartedHere: rig.started,
    durations: { build, rig: rigSeconds, suite: suiteSeconds, total: seconds(runStart) },
  };
}
