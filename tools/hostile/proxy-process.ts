/**
 * Test fixture: `apisnoop proxy` as its own process, exactly as it runs in a container (the CLI entry
 * point, its last resort, its signal handling), for the tests and benchmarks that attack it, flood it,
 * kill it or drain it. Reads its /metrics and its resident memory.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sharedSpecPath } from "@apisnoop/openapi/testing";
import { CertificateAuthority, proxiedKubeconfig } from "@apisnoop/proxy";
import { freePort } from "../net/free-port";
import { rigKubeconfigPath } from "../rig/rig";

const ROOT = path.resolve(fileURLToPath(import.meta.url), "../../..");
/** USER_HZ, the unit of /proc/PID/stat's times: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;

export class ProxyProcess {
  readonly child: ChildProcess;
  output = "";
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;

  private constructor(
    child: ChildProcess,
    readonly port: number,
    readonly adminPort: number,
  ) {
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
    );
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-200_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
  }

  /**
   * Starts `apisnoop proxy` with `args` (besides --listen and --admin-listen) and waits until it serves;
   * `nodeArgs` go to Node itself (`--cpu-prof`).
   */
  static async start(
    args: string[],
    env: Record<string, string> = {},
    nodeArgs: string[] = [],
  ): Promise<ProxyProcess> {
    const port = await freePort();
    const adminPort = await freePort();
    const child = spawn(
      process.execPath,
      [
        ...nodeArgs,
        path.join(ROOT, "apps/cli/bin/apisnoop.mjs"),
        "proxy",
        `--listen=127.0.0.1:${port}`,
        `--admin-listen=127.0.0.1:${adminPort}`,
        ...args,
      ],
      { cwd: ROOT, env: { ...process.env, KUBECONFIG: "", ...env } },
    );
    const proxy = new ProxyProcess(child, port, adminPort);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`proxy did not start:\n${proxy.output}`)), 120_000);
      const check = () => {
        if (/listening on https:/.test(proxy.output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on("data", check);
      void proxy.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`proxy exited with ${code}:\n${proxy.output}`));
      });
    });
    return proxy;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Still running. */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The proxy's /metrics as `name{labels}` → value. */
  async metrics(): Promise<Map<string, number>> {
    const response = await fetch(`http://127.0.0.1:${this.adminPort}/metrics`);
    const text = await response.text();
    const values = new Map<string, number>();
    for (const line of text.split("\n")) {
      if (!line || line.startsWith("#")) continue;
      const space = line.lastIndexOf(" ");
      values.set(line.slice(0, space), Number(line.slice(space + 1)));
    }
    return values;
  }

  /** The sum of every series of a metric family (all label sets). */
  async metric(name: string): Promise<number> {
    let total = 0;
    for (const [series, value] of await this.metrics()) {
      if (series === name || series.startsWith(`${name}{`)) total += value;
    }
    return total;
  }

  /** Resident memory in bytes, from /proc (Linux). */
  rssBytes(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, "utf8");
    const kib = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
    return kib * 1024;
  }

  /** CPU time the process has used so far (user + system), ms, from /proc (Linux). */
  cpuMs(): number {
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th, in clock ticks.
    const fields = readFileSync(`/proc/${this.child.pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  }

  /** Sends a signal and waits for the process to end. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | string> {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }
}

/** A proxy process in front of the rig, and kubeconfigs that send the rig's admin through it. */
export interface RigProxyProcess {
  proxy: ProxyProcess;
  kubeconfigs: Record<"reverse" | "forward", string>;
}

/**
 * `apisnoop proxy` in its own process in front of the rig's apiserver (the 1.34 spec from shared/, a CA of
 * its own in a scratch directory), with a reverse- and a forward-mode kubeconfig for the rig's admin.
 * `args` go to `apisnoop proxy`, `nodeArgs` to Node (`--cpu-prof --cpu-prof-dir=DIR` profiles it until it
 * stops on SIGTERM).
 */
export async function startRigProxyProcess(
  options: { args?: string[]; nodeArgs?: string[] } = {},
): Promise<RigProxyProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-proxy-process-"));
  const caDir = path.join(dir, "ca");
  const proxy = await ProxyProcess.start(
    [
      `--kubeconfig=${rigKubeconfigPath("admin")}`,
      `--spec=${sharedSpecPath("1.34")}`,
      `--ca-dir=${caDir}`,
      ...(options.args ?? []),
    ],
    {},
    options.nodeArgs,
  );
  const caPem = (await CertificateAuthority.open(caDir)).certificatePem;
  const kubeconfigs = { reverse: "", forward: "" };
  for (const mode of ["reverse", "forward"] as const) {
    kubeconfigs[mode] = path.join(dir, `kubeconfig-${mode}`);
    writeFileSync(
      kubeconfigs[mode],
      proxiedKubeconfig({ from: rigKubeconfigPath("admin"), proxyUrl: proxy.url, mode, caPem }),
      { mode: 0o600 },
    );
  }
  return { proxy, kubeconfigs };
}
