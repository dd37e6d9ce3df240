/**
 * `npm run bench:conformance`: the cost users feel. The selected conformance tests (those of
 * `npm run e2e:conformance`) run on one e2e rig directly against the kube-apiserver and through
 * `apisnoop proxy` (the compiled CLI, its own process, live spec, recording to a hits file).
 *
 * On a shared machine the load drifts by more than the +3 % the proxy may cost over a whole run, so the
 * selection is cut into chunks of about BENCH_CHUNK tests and the bench runs pairs: one chunk direct and
 * through the proxy back to back, the order alternating, the chunks visited in turn. Each pair's ratio
 * cancels the drift its two halves share. The verdict, "met", "missed" or "cannot tell at this noise",
 * comes from the 95 % interval of the ratio of the totals (a whole run's quantity; bootstrap over the
 * pairs); the median pair ratio and its sign-test interval are printed beside it. Beside the wall times it reads the CPU seconds the proxy process and the
 * kube-apiserver spend in each suite (/proc), and the load average.
 *
 * Environment: BENCH_CHUNK (tests per pair, default 12), BENCH_PAIRS (at most, default 60), BENCH_MINUTES
 * (no pair starts after this many minutes, default 25); BENCH_TESTS: `api` (default: the API-only
 * selection on a rig without a node), `quick` (the rig test's subset, without the six slowest), `node`
 * (every conformance test the rig's node supports, on a rig with its node and the e2e test images) or
 * `node-quick` (the node test's subset); BENCH_ONLY, a regexp keeping part of the selection; BENCH_PROCS,
 * parallel e2e processes (default 4 with a node, else 1).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { proxiedKubeconfig } from "@apisnoop/proxy";
import { buildCli, ENTRY_FILE } from "../build/build-cli";
import { prepareTestImages } from "./conformance-run";
import {
  CONFORMANCE_TESTS,
  conformanceTestsOf,
  ginkgoFocus,
  NODE_TEST_SUBSET,
  nodeConformanceTests,
  RIG_TEST_SUBSET,
} from "./conformance-tests";
import { ensureE2eBinary } from "./e2e-binary";
import { startE2eRig } from "./e2e-rig";
import { runE2eSuite } from "./e2e-suite";
import { conformanceBenchEnv } from "./env";
import type { SpecResult } from "./ginkgo-report";
import { formatRatio, MIN_PAIRS, medianRatio, type Pair, totalRatio, verdict } from "./paired-ratio";
import { formatSpecDifference, largestSpecDifferences } from "./spec-differences";

const SETTINGS = conformanceBenchEnv((tests) => tests === "node" || tests === "node-quick");
/** The target: the conformance run at most 3 % slower through the proxy. */
const TARGET = 1.03;
const MODE = SETTINGS.tests;
const NODE = MODE === "node" || MODE === "node-quick";
const PROCS = SETTINGS.procs;

/** The selection BENCH_TESTS and BENCH_ONLY name. */
function selectedTests(binary: string): readonly string[] {
  const tests: Record<string, () => readonly string[]> = {
    api: () => CONFORMANCE_TESTS,
    quick: () => RIG_TEST_SUBSET,
    node: () => nodeConformanceTests(conformanceTestsOf(binary)),
    "node-quick": () => NODE_TEST_SUBSET,
  };
  const select = tests[MODE];
  if (!select) throw new Error(`BENCH_TESTS must be one of ${Object.keys(tests).join(", ")}, not ${MODE}`);
  const { only } = SETTINGS;
  return select().filter((name) => !only || only.test(name));
}
const scratch = mkdtempSync(path.join(tmpdir(), "apisnoop-bench-conformance-"));

/** Starts the compiled proxy in front of the rig of `adminKubeconfig`; resolves to its URL and process. */
function startProxyProcess(
  entry: string,
  adminKubeconfig: string,
): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      entry,
      "proxy",
      `--kubeconfig=${adminKubeconfig}`,
      "--listen=127.0.0.1:0",
      "--admin-listen=none",
      "--spec=live",
      `--out=${path.join(scratch, "hits.jsonl")}`,
      `--ca-dir=${path.join(scratch, "ca")}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    const read = (text: Buffer) => {
      out += text.toString();
      const found = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (found) resolve({ url: found[1] as string, child });
    };
    child.stdout.on("data", read);
    child.stderr.on("data", read);
    child.on("exit", (code) => reject(new Error(`apisnoop proxy exited (${code}):\n${out}`)));
  });
}

/** One chunk run both ways. */
interface PairRun {
  chunk: number;
  tests: number;
  proxyFirst: boolean;
  direct: number;
  proxied: number;
  /** CPU seconds of the proxy process during the proxied suite, and during the direct one (idle). */
  proxyCpu: number;
  proxyCpuIdle: number;
  /** CPU seconds of the kube-apiserver during the direct and the proxied suite. */
  apiserverCpuDirect: number;
  apiserverCpuProxied: number;
  /** Every test of the chunk passed on both routes. */
  passed: boolean;
  load: number;
}

/** The selection cut into chunks of about `size` tests, every n-th test in one, so slow tests spread. */
function chunksOf(tests: readonly string[], size: number): string[][] {
  const count = Math.max(1, Math.round(tests.length / size));
  const chunks: string[][] = Array.from({ length: count }, () => []);
  tests.forEach((test, i) => {
    chunks[i % count]?.push(test);
  });
  return chunks;
}

/** User + system CPU seconds a process has spent so far (/proc/PID/stat, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  const binary = ensureE2eBinary();
  const cliDir = path.join(scratch, "cli");
  await buildCli(cliDir);
  const tests = selectedTests(binary);
  const chunks = chunksOf(tests, SETTINGS.chunk);
  const rig = await startE2eRig((line) => console.log(line), NODE);
  const pairs: PairRun[] = [];
  const loadBefore = loadavg()[0] as number;
  try {
    const node = NODE ? prepareTestImages(rig.state, scratch, (line) => console.log(line)) : undefined;
    const proxy = await startProxyProcess(path.join(cliDir, ENTRY_FILE), rig.state.kubeconfigs.admin);
    const proxyPid = proxy.child.pid as number;
    const apiserverPid = rig.state.pids.apiserver;
    try {
      const proxied = path.join(scratch, "kubeconfig-e2e-proxied.yaml");
      writeFileSync(
        proxied,
        proxiedKubeconfig({
          from: rig.state.kubeconfigs.e2e,
          proxyUrl: proxy.url,
          mode: "reverse",
          caPem: caPem(),
        }),
        { mode: 0o600 },
      );
      console.log(
        `${tests.length} tests in ${chunks.length} chunks of ${chunks.map((chunk) => chunk.length).join(", ")}; up to ${SETTINGS.pairs} pairs, none started after ${SETTINGS.minutes} min`,
      );
      const began = Date.now();
      for (let p = 0; p < SETTINGS.pairs && Date.now() - began < SETTINGS.minutes * 60_000; p++) {
        const chunkIndex = p % chunks.length;
        const chunk = chunks[chunkIndex] as string[];
        // Alternate within a pass over the chunks and between passes, so every chunk runs both orders.
        const proxyFirst = (chunkIndex + Math.floor(p / chunks.length)) % 2 === 1;
        const load = loadavg()[0] as number;
        const seconds = { direct: 0, proxy: 0 };
        const proxyCpu = { direct: 0, proxy: 0 };
        const apiserverCpu = { direct: 0, proxy: 0 };
        const specs: Record<"direct" | "proxy", SpecResult[]> = { direct: [], proxy: [] };
        let passed = true;
        for (const route of proxyFirst ? (["proxy", "direct"] as const) : (["direct", "proxy"] as const)) {
          const dir = path.join(scratch, `${route}-${p}`);
          mkdirSync(dir);
          const proxyCpuBefore = cpuSeconds(proxyPid);
          const apiserverCpuBefore = cpuSeconds(apiserverPid);
          const suite = await runE2eSuite({
            binary,
            kubeconfig: route === "direct" ? rig.state.kubeconfigs.e2e : proxied,
            focus: ginkgoFocus(chunk),
            dir,
            node,
            procs: PROCS,
          });
          proxyCpu[route] = cpuSeconds(proxyPid) - proxyCpuBefore;
          apiserverCpu[route] = cpuSeconds(apiserverPid) - apiserverCpuBefore;
          seconds[route] = suite.durationMs / 1000;
          specs[route] = suite.specs;
          const ok = suite.specs.filter((spec) => spec.state === "passed").length;
          if (ok === chunk.length) rmSync(dir, { recursive: true, force: true });
          else {
            passed = false;
            console.log(`  ${route}: ${ok}/${chunk.length} passed (see ${dir}); the pair is left out`);
          }
        }
        const run: PairRun = {
          chunk: chunkIndex,
          tests: chunk.length,
          proxyFirst,
          direct: seconds.direct,
          proxied: seconds.proxy,
          proxyCpu: proxyCpu.proxy,
          proxyCpuIdle: proxyCpu.direct,
          apiserverCpuDirect: apiserverCpu.direct,
          apiserverCpuProxied: apiserverCpu.proxy,
          passed,
          load,
        };
        pairs.push(run);
        console.log(
          `pair ${p + 1} chunk ${chunkIndex + 1} (${run.tests} tests, ${proxyFirst ? "proxy" : "direct"} first): direct ${run.direct.toFixed(1)} s, proxied ${run.proxied.toFixed(1)} s, ratio ${(run.proxied / run.direct).toFixed(3)}; proxy CPU ${run.proxyCpu.toFixed(2)} s (${run.proxyCpuIdle.toFixed(2)} s in the direct suite); apiserver CPU ${run.apiserverCpuDirect.toFixed(1)} / ${run.apiserverCpuProxied.toFixed(1)} s; load ${load.toFixed(1)}`,
        );
        // The tests behind a pair's ratio: with parallel processes the suite's wall time follows its
        // slowest tests, so a pair that stands out is usually one test that waited longer on one route.
        for (const difference of largestSpecDifferences(specs.direct, specs.proxy, 2)) {
          console.log(`  proxied − direct: ${formatSpecDifference(difference)}`);
        }
      }
    } finally {
      proxy.child.kill("SIGTERM");
    }
  } finally {
    await rig.release();
  }
  summarize(pairs, tests.length, loadBefore);
}

/** The verdict and the figures behind it. */
function summarize(runs: readonly PairRun[], tests: number, loadBefore: number): void {
  const kept = runs.filter((run) => run.passed);
  const pairs: Pair[] = kept.map((run) => ({ baseline: run.direct, measured: run.proxied }));
  const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);
  const direct = sum(kept.map((run) => run.direct));
  const proxied = sum(kept.map((run) => run.proxied));
  console.log(
    `\nconformance wall time, ${tests} tests in chunks: ${kept.length} pairs kept of ${runs.length} (a pair with a failed test is left out); load average ${loadBefore.toFixed(1)} before, ${(loadavg()[0] as number).toFixed(1)} after`,
  );
  if (kept.length === 0) return;
  const ratios = pairs.map((pair) => pair.measured / pair.baseline).sort((a, b) => a - b);
  console.log(
    `  direct ${direct.toFixed(1)} s, through apisnoop ${proxied.toFixed(1)} s; pair ratios ${ratios[0]?.toFixed(3)}–${ratios.at(-1)?.toFixed(3)}`,
  );
  // The question is a whole run's wall time: the ratio of the totals is that quantity (a chunk counts by
  // its length). The median of the pairs' ratios is the check that no single spoiled pair decides it; a
  // 5 s chunk counts in it as much as an 80 s one, so its interval is wider.
  if (pairs.length >= MIN_PAIRS) {
    const total = totalRatio(pairs);
    console.log(`  ratio of the totals ${formatRatio(total)}`);
    console.log(`  verdict, target <= +3 % over a whole run: ${verdict(total, TARGET)}`);
    const median = medianRatio(pairs);
    console.log(
      `  median pair ratio ${formatRatio(median)} (by itself: ${verdict(median, TARGET)}; every chunk weighs the same)`,
    );
  } else
    console.log(
      `  ${pairs.length} pairs kept: too few for a 95 % interval (${MIN_PAIRS} or more), so no verdict; ratio of the totals ${(proxied / direct).toFixed(3)}`,
    );
  const proxyCpu = sum(kept.map((run) => run.proxyCpu));
  const proxyCpuIdle = sum(kept.map((run) => run.proxyCpuIdle));
  const apiserverDirect = sum(kept.map((run) => run.apiserverCpuDirect));
  const apiserverProxied = sum(kept.map((run) => run.apiserverCpuProxied));
  console.log(
    `  proxy CPU ${proxyCpu.toFixed(1)} s in the proxied suites (${((proxyCpu / proxied) * 100).toFixed(1)} % of a core while they ran, ${(proxyCpu / kept.length).toFixed(2)} s a suite); ${proxyCpuIdle.toFixed(1)} s in the direct suites, where nothing passes through it (its live spec follows the tests' CRDs)`,
  );
  console.log(
    `  kube-apiserver CPU: direct ${apiserverDirect.toFixed(1)} s, proxied ${apiserverProxied.toFixed(1)} s (${((apiserverProxied / apiserverDirect - 1) * 100).toFixed(1)} %)`,
  );
}

/** The proxy's CA certificate, as the proxy wrote it into its --ca-dir. */
function caPem(): string {
  return readFileSync(path.join(scratch, "ca", "certs", "ca.pem"), "utf8");
}

try {
  await main();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
