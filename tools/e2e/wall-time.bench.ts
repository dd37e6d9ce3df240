/**
 * `npm run bench:conformance`: the cost users feel. The selected conformance tests (those of
 * `npm run e2e:conformance`) run on one e2e rig directly against the kube-apiserver and through
 * `apisnoop proxy` (the compiled CLI, its own process, live spec, recording to a hits file), alternating
 * which goes first each round so the rig's own drift (namespaces still terminating from the previous run)
 * falls on both. Prints each run's suite wall time, the totals per route and the ratio.
 *
 * Environment: BENCH_ROUNDS (default 2: direct then proxy, then proxy then direct); BENCH_TESTS: `api`
 * (default: the API-only selection on a rig without a node), `quick` (the rig test's subset, without the
 * six slowest), `node` (every conformance test the rig's node supports, on a rig with its node and the
 * e2e test images) or `node-quick` (the node test's subset); BENCH_ONLY, a regexp keeping part of the
 * selection; BENCH_PROCS, parallel e2e processes (default 4 with a node, else 1).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
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

const SETTINGS = conformanceBenchEnv((tests) => tests === "node" || tests === "node-quick");
const ROUNDS = SETTINGS.rounds;
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

async function main(): Promise<void> {
  const binary = ensureE2eBinary();
  const cliDir = path.join(scratch, "cli");
  await buildCli(cliDir);
  const tests = selectedTests(binary);
  const rig = await startE2eRig((line) => console.log(line), NODE);
  const runs: { route: "direct" | "proxy"; seconds: number; passed: number }[] = [];
  try {
    const node = NODE ? prepareTestImages(rig.state, scratch, (line) => console.log(line)) : undefined;
    const proxy = await startProxyProcess(path.join(cliDir, ENTRY_FILE), rig.state.kubeconfigs.admin);
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
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? (["direct", "proxy"] as const) : (["proxy", "direct"] as const);
        for (const route of order) {
          const dir = path.join(scratch, `${route}-${round}`);
          mkdirSync(dir);
          const suite = await runE2eSuite({
            binary,
            kubeconfig: route === "direct" ? rig.state.kubeconfigs.e2e : proxied,
            focus: ginkgoFocus(tests),
            dir,
            node,
            procs: PROCS,
          });
          const passed = suite.specs.filter((spec) => spec.state === "passed").length;
          runs.push({ route, seconds: suite.durationMs / 1000, passed });
          console.log(
            `round ${round + 1} ${route.padEnd(6)} ${(suite.durationMs / 1000).toFixed(1)} s, ${passed}/${tests.length} passed`,
          );
        }
      }
    } finally {
      proxy.child.kill("SIGTERM");
    }
  } finally {
    await rig.release();
  }
  const total = (route: string) =>
    runs.filter((run) => run.route === route).reduce((sum, run) => sum + run.seconds, 0);
  const direct = total("direct");
  const throughProxy = total("proxy");
  console.log(
    `\nconformance wall time, ${tests.length} tests x ${ROUNDS} rounds: direct ${direct.toFixed(1)} s, through apisnoop ${throughProxy.toFixed(1)} s: ${((throughProxy / direct - 1) * 100).toFixed(1)} % (target <= +3 %)`,
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
