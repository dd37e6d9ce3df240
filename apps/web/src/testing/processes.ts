import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "@apisnoop/db";
import { SHARED_K8S, sharedSpecPath } from "@apisnoop/openapi/testing";
import { freePort } from "../../../../tools/net/free-port";
import { readRigState } from "../../../../tools/rig/rig";

/** The repository's root: where child processes of the stack tests run. */
export const ROOT = path.resolve(fileURLToPath(import.meta.url), "../../../../..");

/** A child process a test can kill and start again, with its output kept for failures. */
export class Child {
  process: ChildProcess | null = null;
  output = "";

  /** `ready` is matched against the recent output; the start resolves when it shows up. */
  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    private readonly env: Record<string, string>,
    private readonly ready: RegExp,
  ) {}

  /** The running process's id (what it calls `process.pid` when started with node directly). */
  get pid(): number | undefined {
    return this.process?.exitCode === null ? this.process.pid : undefined;
  }

  async start(): Promise<void> {
    const child = spawn(this.command, this.args, { cwd: ROOT, env: { ...process.env, ...this.env } });
    this.process = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name} did not start:\n${this.output}`)),
        120_000,
      );
      const onData = (chunk: Buffer) => {
        this.output += chunk.toString();
        if (this.ready.test(this.output.slice(-4000))) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited with ${code}:\n${this.output.slice(-4000)}`));
      });
    });
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
    this.output += `\n--- ${signal} ---\n`;
  }
}

/** What a web app process of a stack test is given. */
export interface WebProcessOptions {
  /** The process's name in failures, e.g. `web` or `web-2`. */
  name: string;
  databaseUrl: string;
  /** The token proxies deliver with. */
  ingestToken: string;
  /** It serves on 127.0.0.1 at this port. */
  port: number;
  /** Its own cache folder (several replicas must not share one). */
  cacheDir: string;
  /**
   * False: no import of upstream e2e coverage at start, so that every stored hit is one a proxy sent.
   * Default true, as `npm start` does.
   */
  upstreamImport?: boolean;
}

/**
 * The web app's production server as its own process: node itself, not tsx's wrapper, so the pid a test
 * signals (SIGKILL included) is the server's own. It serves 1.34 from the shared reference data and is
 * ready once it says it is serving.
 */
export function webProcess(options: WebProcessOptions): Child {
  return new Child(
    options.name,
    process.execPath,
    ["--import", "tsx", "apps/web/server.ts"],
    {
      DATABASE_URL: options.databaseUrl,
      APISNOOP_INGEST_TOKEN: options.ingestToken,
      PORT: String(options.port),
      HOST: "127.0.0.1",
      APISNOOP_REFERENCE_DIR: SHARED_K8S,
      APISNOOP_RELEASES: "1.34",
      APISNOOP_CACHE_DIR: options.cacheDir,
      ...(options.upstreamImport === false && { APISNOOP_UPSTREAM_IMPORT: "0" }),
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
    },
    /serving http/,
  );
}

/** What an `apisnoop proxy` process of a stack test is given. */
export interface ProxyProcessOptions {
  /** The process's name in failures. */
  name: string;
  /** Its `--proxy-id`, which its batches carry. */
  proxyId: string;
  /** It listens on 127.0.0.1 at this port. */
  port: number;
  /** Its CA folder (proxies behind one address share one, as the chart's pods share its Secret). */
  caDir: string;
  spoolDir: string;
  /** Where it delivers hits (a web app, or a balancer in front of several). */
  ingestUrl: string;
  ingestToken: string;
  /** More flags, e.g. `--drain-seconds=15`. */
  extraArgs?: string[];
}

/**
 * `apisnoop proxy` in front of the rig's kube-apiserver as its own process, with the rig's client
 * certificate and the 1.34 spec, no admin port and no kubeconfig from the environment; ready once it
 * listens.
 */
export function proxyProcess(options: ProxyProcessOptions): Child {
  return new Child(
    options.name,
    process.execPath,
    [
      "apps/cli/bin/apisnoop.mjs",
      "proxy",
      `--kubeconfig=${readRigState().kubeconfigs["admin-cert"]}`,
      `--listen=127.0.0.1:${options.port}`,
      "--admin-listen=none",
      `--spec=${sharedSpecPath("1.34")}`,
      `--ca-dir=${options.caDir}`,
      `--spool-dir=${options.spoolDir}`,
      `--ingest-url=${options.ingestUrl}`,
      `--proxy-id=${options.proxyId}`,
      ...(options.extraArgs ?? []),
    ],
    { APISNOOP_INGEST_TOKEN: options.ingestToken, KUBECONFIG: "" },
    /listening on https:/,
  );
}

/** A stack test's own folder, with PostgreSQL in it and the web app on that database. */
export interface WebOnPostgres {
  /** A new temporary folder: PostgreSQL's data (`pgdata`) and the web app's cache (`cache`) are in it. */
  workDir: string;
  postgres: EmbeddedPostgres;
  /** PostgreSQL's port, to start it again on the same one. */
  pgPort: number;
  /** The web app, not started yet. */
  web: Child;
  webPort: number;
}

/**
 * Makes a folder named after `prefix`, starts PostgreSQL in it and prepares the web app (`webProcess`,
 * named `web`) on it with `ingestToken`; `upstreamImport` as in {@link WebProcessOptions}.
 */
export async function webOnPostgres(
  prefix: string,
  options: Pick<WebProcessOptions, "ingestToken" | "upstreamImport">,
): Promise<WebOnPostgres> {
  const workDir = mkdtempSync(path.join(tmpdir(), prefix));
  chmodSync(workDir, 0o755); // as root, PostgreSQL's owner must reach its data dir
  const pgPort = await freePort();
  const postgres = await startEmbeddedPostgres({ dataDir: path.join(workDir, "pgdata"), port: pgPort });
  const webPort = await freePort();
  const web = webProcess({
    name: "web",
    databaseUrl: postgres.url,
    port: webPort,
    cacheDir: path.join(workDir, "cache"),
    ...options,
  });
  return { workDir, postgres, pgPort, web, webPort };
}
