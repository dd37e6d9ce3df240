/**
 * `npm run bench:proxy`, in one run on loopback:
 *
 * 1. Footprint of `apisnoop proxy --spec FILE` from the TypeScript sources (tsx, `apps/cli/bin`) and from
 *    the compiled build (`npm run build:cli`, built afresh into a scratch folder): launch to ready (the
 *    "listening" line), CPU spent until ready, idle RSS, and peak RSS under load. Then the compiled build's
 *    start-up by where its kubeconfig comes from: `--kubeconfig FILE`, `$KUBECONFIG`, `~/.kube/config` and a
 *    pod's service account (mounted at its standard path in a namespace of the proxy's own, `unshare`),
 *    beside another build's (BENCH_BASELINE_CLI) for a before/after in one run.
 * 2. Load with h2load (Debian's nghttp2-client) over HTTP/1.1 (`--h1`) and HTTP/2 clients, against the
 *    same stand-in apiserver (bench/upstream.ts, its own process, HTTP/2 and HTTP/1.1 by ALPN): direct,
 *    through apisnoop (compiled, 1.34 spec, recording to a hits file), through bare Node.js
 *    pass-throughs (bench/bare-proxy.ts, HTTP/1.1 and HTTP/2 upstream: the floor any Node proxy stands
 *    on; the HTTP/2 one twice, its HTTP/2 clients served by Node's compatibility API, the target's
 *    baseline, and by its core stream API, as apisnoop serves them) and, when installed, through
 *    mitmproxy (`mitmdump --mode reverse:…`). For a PodList GET and a small ConfigMap GET: p50/p99 with
 *    one request in flight, then requests/s at saturation and the CPU the route's process (the proxy; the
 *    upstream for direct) spends per request. Ratios are to the same run's direct and bare rows.
 *
 * Every process shares this machine's cores, and the machine's speed varies with other work: compare
 * within a run, not across runs. Within a run, the saturation phase is cut into rounds that visit every
 * route in turn (BENCH_SATURATION_SECONDS each), and a route's figures sum its rounds: a burst of other
 * work then falls on all routes alike instead of on whichever one ran during it.
 *
 * Environment: BENCH_LOW_RATE_REQUESTS (default 2000), BENCH_SATURATION_SECONDS (per round, default 4),
 * BENCH_SATURATION_ROUNDS (default 3), BENCH_CONNECTIONS (HTTP/1.1 connections, default 16),
 * BENCH_STREAMS (HTTP/2 streams on one connection, default 16), BENCH_SKIP_MITMPROXY=1,
 * BENCH_SKIP_FOOTPRINT=1; BENCH_STARTS (starts per kubeconfig source, default 3), BENCH_BASELINE_CLI (another
 * build's apisnoop.mjs, started beside this one's), BENCH_SKIP_LOAD=1 (footprint and start-ups only).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildCli, ENTRY_FILE } from "../../../tools/build/build-cli";
import { CONFIG_MAP_PATH, POD_LIST_PATH } from "./upstream";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../..");
const LOW_RATE_REQUESTS = Number(process.env.BENCH_LOW_RATE_REQUESTS ?? 2000);
const SATURATION_SECONDS = Number(process.env.BENCH_SATURATION_SECONDS ?? 4);
const SATURATION_ROUNDS = Number(process.env.BENCH_SATURATION_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 16);
const TOKEN = "bench-token-not-a-secret";
const CLOCK_TICKS_PER_SECOND = 100;

const children: ChildProcess[] = [];
const scratch = mkdtempSync(path.join(tmpdir(), "apisnoop-bench-"));

interface Started {
  child: ChildProcess;
  match: RegExpMatchArray;
  /** From spawn to the ready line. */
  readyMs: number;
}

/** Spawns a process and resolves once a stdout or stderr line matches `ready`. */
function start(command: string, args: string[], ready: RegExp, env = process.env): Promise<Started> {
  return new Promise((resolve, reject) => {
    const launched = performance.now();
    const child = spawn(command, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${command} did not start in time:\n${out}`)), 120_000);
    const onText = (text: string) => {
      out += text;
      const found = out.match(ready);
      if (found) {
        clearTimeout(timer);
        resolve({ child, match: found, readyMs: performance.now() - launched });
      }
    };
    child.stdout?.setEncoding("utf8").on("data", onText);
    child.stderr?.setEncoding("utf8").on("data", onText);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code}) before it was ready:\n${out}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

/** CPU time (user + system) a process has used, in microseconds. */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command name: field 3 is the state; utime and stime are fields 14 and 15 of the whole line.
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_SECOND;
}

/** Resident set size now and at its peak, in MiB. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 };
}

interface Target {
  name: string;
  port: number;
  /** The process whose CPU a request through this route costs (the proxy; the upstream for direct). */
  pid: number;
}

type Protocol = "h1" | "h2";

interface LoadResult {
  protocol: string;
  requests: number;
  failed: number;
  seconds: number;
}

/** Runs h2load; returns what it negotiated, how many requests succeeded and failed, and its duration. */
function h2load(protocol: Protocol, port: number, urlPath: string, args: string[]): LoadResult {
  const result = spawnSync(
    "h2load",
    [
      ...(protocol === "h1" ? ["--h1"] : []),
      "-H",
      `authorization: Bearer ${TOKEN}`,
      "-H",
      "accept: application/json",
      "-H",
      "user-agent: apisnoop-bench",
      ...args,
      `https://127.0.0.1:${port}${urlPath}`,
    ],
    { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  const out = `${result.stdout}\n${result.stderr}`;
  const negotiated = /Application protocol: (\S+)/.exec(out)?.[1] ?? "none";
  const counts = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(out);
  const seconds = /finished in ([\d.]+)(m?s)/.exec(out);
  return {
    protocol: negotiated,
    requests: Number(counts?.[1] ?? 0),
    failed: Number(counts?.[2] ?? 0),
    seconds: seconds ? Number(seconds[1]) / (seconds[2] === "ms" ? 1000 : 1) : Number.NaN,
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** p50/p99 (ms) with one request in flight on one connection, after a warm-up. */
function lowRate(target: Target, protocol: Protocol, urlPath: string) {
  h2load(protocol, target.port, urlPath, ["-n", "200", "-c", "1", "-m", "1"]);
  const log = path.join(scratch, `latency-${target.port}-${protocol}.tsv`);
  const run = h2load(protocol, target.port, urlPath, [
    "-n",
    String(LOW_RATE_REQUESTS),
    "-c",
    "1",
    "-m",
    "1",
    "--log-file",
    log,
  ]);
  // Columns: start (µs since the epoch), status, µs until the response ended.
  const micros = existsSync(log)
    ? readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((line) => Number(line.split("\t")[2]))
        .filter(Number.isFinite)
        .sort((a, b) => a - b)
    : [];
  return { ...run, p50: percentile(micros, 50) / 1000, p99: percentile(micros, 99) / 1000 };
}

/** One round at saturation: CONNECTIONS (HTTP/1.1) or STREAMS on one connection (HTTP/2) always in flight. */
function saturationRound(target: Target, protocol: Protocol, urlPath: string, warmUp: boolean) {
  const concurrency =
    protocol === "h1" ? ["-c", String(CONNECTIONS), "-m", "1"] : ["-c", "1", "-m", String(STREAMS)];
  if (warmUp) h2load(protocol, target.port, urlPath, ["-n", "500", ...concurrency]);
  const cpuBefore = cpuMicros(target.pid);
  const run = h2load(protocol, target.port, urlPath, ["-D", String(SATURATION_SECONDS), ...concurrency]);
  return { ...run, cpu: cpuMicros(target.pid) - cpuBefore };
}

interface Saturation {
  protocol: string;
  requests: number;
  failed: number;
  seconds: number;
  /** CPU time of the route's process over all its rounds, in microseconds. */
  cpu: number;
}

/** Adds a round to a route's totals. */
function addRound(total: Saturation | undefined, round: Saturation): Saturation {
  if (!total) return round;
  return {
    protocol: total.protocol === round.protocol ? total.protocol : `${total.protocol}/${round.protocol}`,
    requests: total.requests + round.requests,
    failed: total.failed + round.failed,
    seconds: total.seconds + round.seconds,
    cpu: total.cpu + round.cpu,
  };
}

/** Requests/s and CPU µs per request over all of a route's rounds. */
function rates(total: Saturation) {
  return { rps: total.requests / total.seconds, cpuPerRequest: total.cpu / Math.max(1, total.requests) };
}

/** Builds the CLI afresh; resolves to its entry file. */
async function compiledCli(): Promise<string> {
  const outdir = path.join(scratch, "cli");
  await buildCli(outdir);
  return path.join(outdir, ENTRY_FILE);
}

function proxyArgs(kubeconfig: string, specFile: string, name: string): string[] {
  return [
    "proxy",
    "--kubeconfig",
    kubeconfig,
    "--listen",
    "127.0.0.1:0",
    "--admin-listen",
    "none",
    "--spec",
    specFile,
    "--out",
    path.join(scratch, `hits-${name}.jsonl`),
    "--ca-dir",
    path.join(scratch, "proxy-ca"),
  ];
}

/** The bare pass-through that serves HTTP/2 clients with Node's core stream API (HTTP/1.1 ones as the other). */
const BARE_CORE = "bare, h2 upstream, core API";

const LISTENING = /listening on https:\/\/127\.0\.0\.1:(\d+)/;

function table(rows: string[][]): void {
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  for (const row of rows) console.log(row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  "));
}

/** Where a start-up by kubeconfig source reads its kubeconfig from. */
interface StartMode {
  name: string;
  /** Extra arguments (after the common ones, which carry no --kubeconfig). */
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Run in a user and mount namespace with the service account mounted at its standard path. */
  pod?: boolean;
}

/**
 * The service account of a pod at /var/run/secrets/kubernetes.io/serviceaccount, without writing there:
 * `unshare` gives the proxy a mount namespace of its own (as root of a user namespace) with a tmpfs on
 * /run, the account's files copied in, then execs it (same pid).
 */
function inPod(serviceAccount: string, command: string, args: string[]): [string, string[]] {
  const dir = "/run/secrets/kubernetes.io/serviceaccount";
  const script = `mount -t tmpfs tmpfs /run && mkdir -p ${dir} && cp "$0"/token "$0"/ca.crt ${dir}/ && exec "$@"`;
  return [
    "unshare",
    ["--user", "--map-root-user", "--mount", "sh", "-c", script, serviceAccount, command, ...args],
  ];
}

/**
 * Launch to ready, CPU to ready and idle RSS of the compiled proxy for each place its kubeconfig can come
 * from (a file named, $KUBECONFIG, ~/.kube/config, a pod's service account), BENCH_STARTS times each,
 * builds and modes interleaved; with BENCH_BASELINE_CLI (another build's apisnoop.mjs) the same starts of
 * that build, for a before/after in one run. Prints each cell's median.
 */
async function startupByMode(
  builds: { name: string; entry: string }[],
  upstreamPort: number,
  caPem: string,
  kubeconfig: string,
  specFile: string,
): Promise<void> {
  if (spawnSync("unshare", ["--user", "--map-root-user", "--mount", "true"]).status !== 0) {
    console.log(
      "\nstart-up by kubeconfig source: skipped (unshare cannot make a user and mount namespace here)",
    );
    return;
  }
  const home = path.join(scratch, "home");
  mkdirSync(path.join(home, ".kube"), { recursive: true });
  copyFileSync(kubeconfig, path.join(home, ".kube", "config"));
  const emptyHome = path.join(scratch, "empty-home");
  mkdirSync(emptyHome, { recursive: true });
  const serviceAccount = path.join(scratch, "service-account");
  mkdirSync(serviceAccount, { recursive: true });
  writeFileSync(path.join(serviceAccount, "token"), TOKEN);
  writeFileSync(path.join(serviceAccount, "ca.crt"), caPem);
  const base = { ...process.env };
  delete base.KUBECONFIG;
  delete base.KUBERNETES_SERVICE_HOST;
  delete base.KUBERNETES_SERVICE_PORT;
  const pod = {
    ...base,
    HOME: emptyHome,
    KUBERNETES_SERVICE_HOST: "127.0.0.1",
    KUBERNETES_SERVICE_PORT: String(upstreamPort),
  };
  const modes: StartMode[] = [
    { name: "--kubeconfig FILE", args: ["--kubeconfig", kubeconfig], env: { ...base, HOME: emptyHome } },
    { name: "$KUBECONFIG", args: [], env: { ...base, HOME: emptyHome, KUBECONFIG: kubeconfig } },
    { name: "~/.kube/config", args: [], env: { ...base, HOME: home } },
    { name: "in-cluster, --pods off", args: ["--pods", "off"], env: pod, pod: true },
    { name: "in-cluster (--pods auto)", args: [], env: pod, pod: true },
  ];
  const starts = Number(process.env.BENCH_STARTS ?? 3);
  const figures = new Map<string, { ready: number[]; cpu: number[]; rss: number[] }>();
  for (let round = 0; round < starts; round++) {
    for (const mode of modes) {
      for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
        const common = [
          build.entry,
          "proxy",
          "--listen",
          "127.0.0.1:0",
          "--admin-listen",
          "none",
          "--spec",
          specFile,
          "--ca-dir",
          path.join(scratch, "proxy-ca"),
          ...mode.args,
        ];
        const [command, args] = mode.pod ? inPod(serviceAccount, "node", common) : ["node", common];
        const proxy = await start(command, args, LISTENING, mode.env);
        const pid = proxy.child.pid as number;
        const cpu = cpuMicros(pid) / 1000;
        await new Promise((resolve) => setTimeout(resolve, 3000));
        const key = `${mode.name}\t${build.name}`;
        const cell = figures.get(key) ?? { ready: [], cpu: [], rss: [] };
        cell.ready.push(proxy.readyMs);
        cell.cpu.push(cpu);
        cell.rss.push(memory(pid).rss);
        figures.set(key, cell);
        await stop(proxy.child);
      }
    }
  }
  const median = (values: number[]) =>
    percentile(
      [...values].sort((a, b) => a - b),
      50,
    );
  const rows = [["kubeconfig from", "build", "ready ms", "CPU to ready ms", "idle RSS MiB"]];
  for (const [key, cell] of figures) {
    const [mode, build] = key.split("\t") as [string, string];
    rows.push([
      mode,
      build,
      median(cell.ready).toFixed(0),
      median(cell.cpu).toFixed(0),
      median(cell.rss).toFixed(1),
    ]);
  }
  console.log(`\nstart-up by kubeconfig source (compiled, --spec FILE; median of ${starts} starts each)`);
  table(rows);
}

async function main(): Promise<void> {
  if (spawnSync("sh", ["-c", "command -v h2load"]).status !== 0) {
    throw new Error("bench:proxy needs h2load: apt-get install -y nghttp2-client");
  }
  const tsxImport = ["--import", "tsx"];
  const upstreamProcess = await start(
    "node",
    [...tsxImport, path.join(here, "upstream.ts"), path.join(scratch, "upstream-ca")],
    /^(\{.*\})$/m,
  );
  const upstream = JSON.parse(upstreamProcess.match[1] as string) as { port: number; caPem: string };
  const targets: Target[] = [
    { name: "direct", port: upstream.port, pid: upstreamProcess.child.pid as number },
  ];

  const kubeconfig = path.join(scratch, "kubeconfig");
  writeFileSync(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster: {server: "https://127.0.0.1:${upstream.port}", certificate-authority-data: ${Buffer.from(upstream.caPem).toString("base64")}}
users:
- name: bench
  user: {token: ${TOKEN}}
contexts:
- name: bench
  context: {cluster: bench, user: bench}
current-context: bench
`,
  );
  const specFile = path.resolve(repoRoot, "../shared/k8s/openapi/v1.34.swagger.json.gz");
  if (!existsSync(specFile)) throw new Error(`bench:proxy reads the 1.34 spec from ${specFile}`);

  const built = performance.now();
  const compiled = await compiledCli();
  console.log(
    `compiled the CLI in ${Math.round(performance.now() - built)} ms (${path.relative(repoRoot, compiled)})`,
  );
  const entries = [
    { name: "sources (tsx)", args: [path.join(repoRoot, "apps/cli/bin/apisnoop.mjs")] },
    { name: "compiled", args: [compiled] },
  ];

  // A first start creates the CA (key generation): not part of any launch measured below.
  await stop((await start("node", [compiled, ...proxyArgs(kubeconfig, specFile, "ca")], LISTENING)).child);

  for (const [upstreamProtocol, api] of [
    ["h1", "compat"],
    ["h2", "compat"],
    ["h2", "core"],
  ] as const) {
    const bare = await start(
      "node",
      [
        ...tsxImport,
        path.join(here, "bare-proxy.ts"),
        String(upstream.port),
        path.join(scratch, "bare-ca"),
        upstreamProtocol,
        ...(api === "core" ? ["core"] : []),
      ],
      /^(\{.*\})$/m,
    );
    targets.push({
      name: api === "core" ? BARE_CORE : `bare, ${upstreamProtocol} upstream`,
      port: (JSON.parse(bare.match[1] as string) as { port: number }).port,
      pid: bare.child.pid as number,
    });
  }

  let apisnoop: Started | null = null;
  const footprint: string[][] = [
    ["entry", "ready ms", "CPU to ready ms", "idle RSS MiB", "peak RSS under load MiB"],
  ];
  for (const entry of process.env.BENCH_SKIP_FOOTPRINT === "1" ? entries.slice(1) : entries) {
    const proxy = await start(
      "node",
      [...entry.args, ...proxyArgs(kubeconfig, specFile, entry.name)],
      LISTENING,
    );
    const pid = proxy.child.pid as number;
    const cpuToReady = cpuMicros(pid) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const idle = memory(pid).rss;
    saturationRound({ name: entry.name, port: Number(proxy.match[1]), pid }, "h1", POD_LIST_PATH, true);
    footprint.push([
      entry.name,
      proxy.readyMs.toFixed(0),
      cpuToReady.toFixed(0),
      idle.toFixed(1),
      memory(pid).peak.toFixed(1),
    ]);
    if (entry.name === "compiled") apisnoop = proxy;
    else await stop(proxy.child);
  }
  if (!apisnoop) throw new Error("the compiled proxy did not start");
  const baseline = process.env.BENCH_BASELINE_CLI;
  await startupByMode(
    [
      { name: "this", entry: compiled },
      ...(baseline ? [{ name: "baseline", entry: path.resolve(baseline) }] : []),
    ],
    upstream.port,
    upstream.caPem,
    kubeconfig,
    specFile,
  );
  if (process.env.BENCH_SKIP_LOAD === "1") return;
  targets.push({ name: "apisnoop", port: Number(apisnoop.match[1]), pid: apisnoop.child.pid as number });

  const mitmdump = spawnSync("sh", ["-c", "command -v mitmdump"], { encoding: "utf8" }).stdout.trim();
  if (process.env.BENCH_SKIP_MITMPROXY !== "1" && mitmdump) {
    const mitmPort = 20000 + Math.floor(Math.random() * 20000);
    const mitm = await start(
      mitmdump,
      [
        "--mode",
        `reverse:https://127.0.0.1:${upstream.port}`,
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        String(mitmPort),
        "--ssl-insecure",
        "--set",
        `confdir=${path.join(scratch, "mitmproxy")}`,
        "--set",
        "connection_strategy=lazy",
      ],
      /listening at/i,
    );
    targets.push({ name: "mitmproxy", port: mitmPort, pid: mitm.child.pid as number });
  } else {
    console.log("mitmproxy: not measured (apt-get install -y mitmproxy)");
  }

  console.log(
    `\napisnoop proxy benchmark: h2load, ${LOW_RATE_REQUESTS} requests one at a time for latency; ${SATURATION_ROUNDS} rounds of ${SATURATION_SECONDS} s per route at saturation (routes in turn) with ${CONNECTIONS} HTTP/1.1 connections or ${STREAMS} HTTP/2 streams on one connection`,
  );
  const rows: string[][] = [
    [
      "endpoint",
      "client",
      "route",
      "ALPN",
      "p50 ms",
      "p99 ms",
      "req/s",
      "vs direct",
      "CPU µs/req",
      "CPU vs bare",
      "req/s vs bare",
      "CPU vs core bare",
      "req/s vs core bare",
      "failed",
    ],
  ];
  for (const [label, urlPath] of [
    ["PodList (50 pods)", POD_LIST_PATH],
    ["ConfigMap (small)", CONFIG_MAP_PATH],
  ] as const) {
    for (const protocol of ["h1", "h2"] as const) {
      const latencies = new Map(targets.map((target) => [target.name, lowRate(target, protocol, urlPath)]));
      const totals = new Map<string, Saturation>();
      for (let round = 0; round < SATURATION_ROUNDS; round++) {
        // Each round starts one route later, so no route always follows the same one.
        for (let i = 0; i < targets.length; i++) {
          const target = targets[(i + round) % targets.length] as Target;
          const load = saturationRound(target, protocol, urlPath, round === 0);
          totals.set(target.name, addRound(totals.get(target.name), load));
        }
      }
      const results = new Map([...totals].map(([name, total]) => [name, rates(total)]));
      for (const target of targets) {
        const latency = latencies.get(target.name) as ReturnType<typeof lowRate>;
        const total = totals.get(target.name) as Saturation;
        const load = rates(total);
        const direct = results.get("direct");
        // apisnoop speaks HTTP/2 upstream: its floor is the bare pass-through that does too, on Node's
        // compatibility API (the target's baseline) and on its core stream API, as apisnoop serves HTTP/2.
        const bareResult = results.get("bare, h2 upstream");
        const coreResult = results.get(BARE_CORE);
        const versusBare = !target.name.startsWith("bare") && target.name !== "direct" && bareResult;
        const versusCore = !target.name.startsWith("bare") && target.name !== "direct" && coreResult;
        rows.push([
          label,
          protocol === "h1" ? "HTTP/1.1" : "HTTP/2",
          target.name,
          total.protocol,
          latency.p50.toFixed(3),
          latency.p99.toFixed(3),
          load.rps.toFixed(0),
          direct ? (load.rps / direct.rps).toFixed(2) : "",
          load.cpuPerRequest.toFixed(0),
          versusBare ? `${(load.cpuPerRequest / bareResult.cpuPerRequest).toFixed(2)}x` : "",
          versusBare ? `${(load.rps / bareResult.rps).toFixed(2)}x` : "",
          versusCore ? `${(load.cpuPerRequest / coreResult.cpuPerRequest).toFixed(2)}x` : "",
          versusCore ? `${(load.rps / coreResult.rps).toFixed(2)}x` : "",
          String(latency.failed + total.failed),
        ]);
      }
    }
  }
  console.log("");
  table(rows);
  if (apisnoop.child.pid) {
    footprint.at(-1)?.splice(4, 1, memory(apisnoop.child.pid).peak.toFixed(1));
  }
  console.log(
    "\nfootprint of `apisnoop proxy --spec v1.34` (peak RSS for compiled: over the whole load run)",
  );
  table(footprint);
}

try {
  await main();
} finally {
  await Promise.all(children.map(stop));
  rmSync(scratch, { recursive: true, force: true });
}
