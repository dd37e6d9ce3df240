/**
 * Test fixture: `apisnoop proxy` as its own process, exactly as it runs in a container (the CLI entry
 * point, its last resort, its signal handling), for the tests and benchmarks that attack it, flood it,
 * kill it or drain it. Reads its /metrics and its resident memory.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(fileURLToPath(import.meta.url), "../../..");

/** A free loopback port (closed again: the caller binds it next). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

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

  /** Starts `apisnoop proxy` with `args` (besides --listen and --admin-listen) and waits until it serves. */
  static async start(args: string[], env: Record<string, string> = {}): Promise<ProxyProcess> {
    const port = await freePort();
    const adminPort = await freePort();
    const child = spawn(
      process.execPath,
      [
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

  /** Sends a signal and waits for the process to end. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | string> {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }
}
