/**
 * `npm run bench:proxy`: direct vs apisnoop vs mitmproxy (`mitmdump --mode reverse:...`) in one run, on
 * loopback, against the same local HTTPS upstream (bench/upstream.ts, its own process). A bare Node.js
 * proxy (bench/bare-proxy.ts) runs too: the floor any Node proxy stands on. For a PodList GET
 * and a small ConfigMap GET: p50/p99 latency at a low rate (one request in flight, paced) and req/s at
 * saturation (keep-alive connections, fixed duration). Prints ratios to direct. Every process runs on
 * this machine's cores; the figures are for comparison within the run, not absolute.
 *
 * Environment: BENCH_LOW_RATE_REQUESTS (default 2000), BENCH_SATURATION_SECONDS (default 8),
 * BENCH_CONNECTIONS (default 16), BENCH_SKIP_MITMPROXY=1.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CONFIG_MAP_PATH, POD_LIST_PATH } from "./upstream";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "../../..");
const LOW_RATE_REQUESTS = Number(process.env.BENCH_LOW_RATE_REQUESTS ?? 2000);
const SATURATION_SECONDS = Number(process.env.BENCH_SATURATION_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const TOKEN = "bench-token-not-a-secret";

const children: ChildProcess[] = [];
const scratch = mkdtempSync(path.join(tmpdir(), "apisnoop-bench-"));

/** Spawns a process and resolves with the first stdout line matching `ready`. */
function start(
  command: string,
  args: string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    let err = "";
    const timer = setTimeout(
      () => reject(new Error(`${command} did not start in time:\n${out}\n${err}`)),
      60_000,
    );
    child.stdout?.setEncoding("utf8").on("data", (text: string) => {
      out += text;
      const found = out.match(ready);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    child.stderr?.setEncoding("utf8").on("data", (text: string) => {
      err += text;
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code}) before it was ready:\n${out}\n${err}`));
    });
  });
}

function stopAll(): void {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
}

interface Target {
  name: string;
  port: number;
}

/** One GET on a keep-alive agent; resolves with the latency in ms (throws on a non-200). */
function get(agent: https.Agent, port: number, urlPath: string): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port,
        path: urlPath,
        agent,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          accept: "application/json",
          "user-agent": "apisnoop-bench",
        },
      },
      (res) => {
        res.on("data", () => {});
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`GET ${urlPath} on :${port}: ${res.statusCode}`));
          else resolve(Number(process.hrtime.bigint() - started) / 1e6);
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const agentFor = () =>
  new https.Agent({ keepAlive: true, maxSockets: CONNECTIONS, rejectUnauthorized: false });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** p50/p99 with one request in flight, paced at ~500 req/s, after a warm-up. */
async function lowRate(target: Target, urlPath: string): Promise<{ p50: number; p99: number }> {
  const agent = agentFor();
  for (let i = 0; i < 200; i++) await get(agent, target.port, urlPath);
  const samples: number[] = [];
  for (let i = 0; i < LOW_RATE_REQUESTS; i++) {
    samples.push(await get(agent, target.port, urlPath));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  agent.destroy();
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

/** Completed requests per second with CONNECTIONS requests always in flight. */
async function saturation(target: Target, urlPath: string): Promise<number> {
  const agent = agentFor();
  await Promise.all(Array.from({ length: CONNECTIONS }, () => get(agent, target.port, urlPath)));
  const deadline = performance.now() + SATURATION_SECONDS * 1000;
  let done = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < deadline) {
        await get(agent, target.port, urlPath);
        done++;
      }
    }),
  );
  agent.destroy();
  return done / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const tsx = path.join(repoRoot, "node_modules", ".bin", "tsx");
  const [, upstreamJson] = await start(
    tsx,
    [path.join(here, "upstream.ts"), path.join(scratch, "upstream-ca")],
    /^(\{.*\})$/m,
  );
  const upstream = JSON.parse(upstreamJson as string) as { port: number; caPem: string };
  const targets: Target[] = [{ name: "direct", port: upstream.port }];

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
  const sharedSpec = path.resolve(repoRoot, "../shared/k8s/openapi/v1.34.swagger.json.gz");
  const specFile = existsSync(sharedSpec) ? sharedSpec : path.join(scratch, "spec.json");
  if (!existsSync(sharedSpec)) {
    writeFileSync(
      specFile,
      JSON.stringify({
        swagger: "2.0",
        paths: {
          "/api/v1/namespaces/{namespace}/pods": {
            get: { operationId: "listCoreV1NamespacedPod", tags: ["core_v1"] },
          },
          "/api/v1/namespaces/{namespace}/configmaps/{name}": {
            get: { operationId: "readCoreV1NamespacedConfigMap", tags: ["core_v1"] },
          },
        },
      }),
    );
  }
  const [, apisnoopPort] = await start(
    "node",
    [
      path.join(repoRoot, "apps/cli/bin/apisnoop.mjs"),
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
      path.join(scratch, "hits.jsonl"),
      "--ca-dir",
      path.join(scratch, "proxy-ca"),
    ],
    /listening on https:\/\/127\.0\.0\.1:(\d+)/,
  );
  targets.push({ name: "apisnoop", port: Number(apisnoopPort) });

  const [, bareJson] = await start(
    tsx,
    [path.join(here, "bare-proxy.ts"), String(upstream.port), path.join(scratch, "bare-ca")],
    /^(\{.*\})$/m,
  );
  targets.push({ name: "bare Node proxy", port: (JSON.parse(bareJson as string) as { port: number }).port });

  const mitmdump = spawnSync("sh", ["-c", "command -v mitmdump"], { encoding: "utf8" }).stdout.trim();
  if (process.env.BENCH_SKIP_MITMPROXY !== "1" && mitmdump) {
    const mitmPort = 20000 + Math.floor(Math.random() * 20000);
    await start(
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
    targets.push({ name: "mitmproxy", port: mitmPort });
  } else {
    console.log("mitmproxy: not measured (apt-get install -y mitmproxy)");
  }

  console.log(
    `apisnoop proxy benchmark: ${LOW_RATE_REQUESTS} paced requests for latency, ${CONNECTIONS} connections x ${SATURATION_SECONDS}s for throughput`,
  );
  const rows: string[][] = [
    ["endpoint", "route", "p50 ms", "p99 ms", "added p50", "added p99", "req/s", "vs direct"],
  ];
  for (const [label, urlPath] of [
    ["PodList (50 pods)", POD_LIST_PATH],
    ["ConfigMap (small)", CONFIG_MAP_PATH],
  ] as const) {
    let base: { p50: number; p99: number; rps: number } | null = null;
    const results: Record<string, number> = {};
    for (const target of targets) {
      const latency = await lowRate(target, urlPath);
      const rps = await saturation(target, urlPath);
      base ??= { ...latency, rps };
      results[target.name] = rps;
      rows.push([
        label,
        target.name,
        latency.p50.toFixed(3),
        latency.p99.toFixed(3),
        target.name === "direct" ? "" : `+${(latency.p50 - base.p50).toFixed(3)}`,
        target.name === "direct" ? "" : `+${(latency.p99 - base.p99).toFixed(3)}`,
        rps.toFixed(0),
        target.name === "direct" ? "1.00" : (rps / base.rps).toFixed(2),
      ]);
    }
    if (results.mitmproxy && results.apisnoop) {
      rows.push([
        label,
        "apisnoop / mitmproxy",
        "",
        "",
        "",
        "",
        "",
        `${(results.apisnoop / results.mitmproxy).toFixed(1)}x`,
      ]);
    }
  }
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length))) ?? [];
  for (const row of rows) console.log(row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  "));
}

try {
  await main();
} finally {
  stopAll();
  rmSync(scratch, { recursive: true, force: true });
}
