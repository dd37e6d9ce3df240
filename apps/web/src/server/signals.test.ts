import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-signals-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a process that calls `endOnSignals`, then `body`; resolves once it printed "ready". */
async function run(body: string) {
  const script = path.join(dir, `s${Math.random().toString(36).slice(2)}.mts`);
  writeFileSync(
    script,
    `import { endOnSignals } from ${JSON.stringify(path.resolve(__dirname, "signals.ts"))};
process.on("exit", (code) => console.log("exit hook " + code));
const ending = endOnSignals((line) => console.log(line));
${body}
console.log("ready");
setInterval(() => {}, 1000);
`,
  );
  const child = spawn(process.execPath, ["--import", "tsx", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", () => output.includes("ready") && resolve());
    child.once("exit", (code) => reject(new Error(`exited ${code} before ready: ${output}`)));
  });
  const exited = once(child, "exit");
  return { child, exited, output: () => output };
}

describe("endOnSignals", () => {
  it("before the app has started, exits at once on a closed terminal, running exit hooks", async () => {
    const p = await run("");
    p.child.kill("SIGHUP");
    const [code] = await p.exited;
    expect(code).toBe(129);
    expect(p.output()).toContain("exit hook 129");
  });

  it("once started, stops once through every repeated Ctrl-C, then exits 0", async () => {
    const p = await run(`ending.started(async (signal) => {
  console.log("stop " + signal);
  await new Promise((resolve) => setTimeout(resolve, 400));
  console.log("stopped");
});`);
    p.child.kill("SIGINT");
    await new Promise((resolve) => setTimeout(resolve, 100));
    p.child.kill("SIGINT");
    p.child.kill("SIGTERM");
    const [code] = await p.exited;
    expect(code).toBe(0);
    expect(p.output().match(/^stop SIG\w+$/gm)).toEqual(["stop SIGINT"]);
    expect(p.output()).toContain("stopped\nexit hook 0");
  });

  it("exits 1 with one line when stopping fails", async () => {
    const p = await run(`ending.started(async () => { throw new Error("the database went away"); });`);
    p.child.kill("SIGTERM");
    const [code] = await p.exited;
    expect(code).toBe(1);
    expect(p.output()).toContain("stopping failed: the database went away\n");
  });
});
