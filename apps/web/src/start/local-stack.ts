import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { homedir, hostname } from "node:os";
import path from "node:path";
import type { Database } from "@apisnoop/db";
import { parseListenAddress, proxiedKubeconfig, type RunningProxy, startProxy } from "@apisnoop/proxy";
import type { DashboardEnv } from "../env";
import { ensureNextBuild } from "../server/next-build";
import { type RunningWebApp, startWebApp } from "../server/web-app";

export interface LocalStackOptions {
  env: DashboardEnv;
  /** Where to write `apisnoop.kubeconfig` for clients (the directory `npm start` runs in). */
  workDir: string;
  /** An open database instead of the env's (tests). */
  database?: Database;
  /** Where the proxy keeps its CA (default ~/.apisnoop/ca). */
  caDir?: string;
  log: (line: string) => void;
}

/** The dashboard, and the proxy in front of the cluster when one answered. */
export interface LocalStack {
  web: RunningWebApp;
  proxy: RunningProxy | null;
  /** `apisnoop.kubeconfig`, when the proxy runs. */
  kubeconfigPath: string | null;
  /** The kubeconfig the proxy forwards to, when there was one. */
  upstreamKubeconfig: string | null;
  /** Why no proxy runs (no kubeconfig, unreachable cluster, port taken). */
  proxyProblem: string | null;
  close(): Promise<void>;
}

/**
 * What `npm start` runs: opens the database (embedded without DATABASE_URL), loads the cluster's spec
 * when the kubeconfig's cluster answers and the published releases, builds the dashboard if its sources
 * changed, starts the web app, and — with a reachable cluster — the proxy in front of it, writing
 * `apisnoop.kubeconfig` so clients can be pointed through it.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const { env, log } = options;
  const upstreamKubeconfig = findKubeconfig(env);
  const cluster = upstreamKubeconfig
    ? { kubeconfig: upstreamKubeconfig, context: env.APISNOOP_CONTEXT }
    : null;
  // One token per run unless one is configured: only this process's proxy can ingest.
  const token = env.APISNOOP_INGEST_TOKEN ?? randomBytes(24).toString("hex");
  const web = await startWebApp({
    env,
    cluster,
    ingestToken: token,
    // The build last: a data dir it cannot use, or no way to the published data, is said in seconds.
    ...(env.NODE_ENV !== "development" ? { beforeServe: () => ensureNextBuild(log) } : {}),
    log,
    ...(options.database ? { database: options.database } : {}),
  });

  let proxy: RunningProxy | null = null;
  let kubeconfigPath: string | null = null;
  let proxyProblem: string | null = null;
  if (!upstreamKubeconfig) proxyProblem = "no kubeconfig (set KUBECONFIG or create ~/.kube/config)";
  else if (web.clusterError)
    proxyProblem = `the cluster of ${upstreamKubeconfig} did not answer: ${web.clusterError}`;
  else {
    try {
      proxy = await startProxy({
        kubeconfig: upstreamKubeconfig,
        context: env.APISNOOP_CONTEXT,
        listen: parseListenAddress(env.APISNOOP_PROXY_LISTEN),
        adminListen: null,
        spec: "live",
        ...(options.caDir ? { caDir: options.caDir } : {}),
        // The proxy's own lossless uplink, pointed at this web app; a short interval keeps the view live.
        uplink: {
          url: web.url,
          token,
          spoolDir: localSpoolDir(options.workDir, log),
          proxyId: `npm-start@${hostname()}`,
          flushMs: 250,
        },
        log: (line) => log(`proxy: ${line}`),
      });
      kubeconfigPath = path.join(options.workDir, "apisnoop.kubeconfig");
      writeFileSync(
        kubeconfigPath,
        proxiedKubeconfig({
          from: upstreamKubeconfig,
          context: env.APISNOOP_CONTEXT,
          proxyUrl: proxy.url,
          mode: "reverse",
          caPem: proxy.ca.certificatePem,
        }),
        { mode: 0o600 },
      );
      // The mode above applies only to a new file: one left by an older run keeps its own.
      chmodSync(kubeconfigPath, 0o600);
    } catch (error) {
      proxyProblem = `the proxy did not start: ${(error as Error).message}`;
    }
  }

  return {
    web,
    proxy,
    kubeconfigPath,
    upstreamKubeconfig,
    proxyProblem,
    async close() {
      await proxy?.close();
      await web.close();
    },
  };
}

/**
 * The proxy's spool: `.apisnoop/spool` in the working directory, beside the embedded database, where git
 * ignores it. A `spool/` an earlier version left at the top is moved there, so batches it still holds
 * are delivered, not orphaned.
 */
export function localSpoolDir(workDir: string, log: (line: string) => void): string {
  const stateDir = path.join(workDir, ".apisnoop");
  const spoolDir = path.join(stateDir, "spool");
  mkdirSync(stateDir, { recursive: true });
  const earlier = path.join(workDir, "spool");
  if (existsSync(earlier) && !existsSync(spoolDir)) {
    renameSync(earlier, spoolDir);
    log(`moved the proxy's spool from ${earlier} to ${spoolDir}`);
  }
  return spoolDir;
}

/** The kubeconfig kubectl would use: $KUBECONFIG's first file, else ~/.kube/config; null when absent. */
export function findKubeconfig(env: Pick<DashboardEnv, "KUBECONFIG">): string | null {
  const candidate =
    env.KUBECONFIG?.split(path.delimiter).find(Boolean) ?? path.join(homedir(), ".kube", "config");
  return existsSync(candidate) ? candidate : null;
}

/** What a newcomer reads after `npm start`: where everything is and what to do next. */
export function startBanner(stack: LocalStack): string {
  const { web } = stack;
  const lines = [
    "",
    `  apisnoop is running: ${web.url}`,
    "",
    `  database   ${web.database.embedded ? `embedded PostgreSQL (${redact(web.database.url)})` : redact(web.database.url)}`,
    `  releases   ${web.releases.map((r) => `${r.release} (${r.endpoints} endpoints, ${r.origin})`).join("; ")}`,
  ];
  const imports = web.upstreamImport.states();
  if (imports.length > 0) {
    lines.push(
      `  upstream   apisnoop's published e2e coverage of ${imports.map((state) => state.release).join(", ")}, ` +
        "imported once in the background (progress below and on the page)",
    );
  }
  if (stack.proxy && stack.kubeconfigPath) {
    lines.push(
      `  proxy      ${stack.proxy.url} → ${stack.proxy.upstream.server}`,
      "",
      "  Next: send your cluster's traffic through apisnoop and watch the dashboard fill:",
      `    kubectl --kubeconfig ${path.relative(process.cwd(), stack.kubeconfigPath) || stack.kubeconfigPath} get pods -A`,
      `    export KUBECONFIG=${stack.kubeconfigPath}   # for any client: helm, operators, e2e.test`,
    );
  } else {
    lines.push(
      `  proxy      not running: ${stack.proxyProblem ?? "no cluster"}`,
      "",
      "  The dashboard shows the published release with apisnoop's upstream e2e coverage.",
      "  To measure your own workloads, point a kubeconfig at a cluster and start again:",
      "    KUBECONFIG=/path/to/kubeconfig npm start      # or: npm run demo (a local kube-apiserver)",
    );
  }
  lines.push("", "  Ctrl-C stops everything.", "");
  return lines.join("\n");
}

/** A database URL without its password. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}
