import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

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
