import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TSX = path.resolve(HERE, "../../../node_modules/.bin/tsx");

describe("installLastResort", () => {
  it("counts and logs what nothing caught, rate-limited, and the process goes on", () => {
    // In a child process: vitest itself reports uncaught errors of its own process as failures.
    const script = `
      import { installLastResort } from ${JSON.stringify(path.join(HERE, "last-resort.ts"))};
      const counts = { exception: 0, rejection: 0 };
      const lines = [];
      installLastResort({ countUncaught: (k) => counts[k]++, log: (l) => lines.push(l) });
      for (let i = 0; i < 3; i++) setTimeout(() => { throw new RangeError("bad port " + i); }, 1);
      Promise.reject(new Error("nobody listened"));
      setTimeout(() => { console.log(JSON.stringify({ counts, lines })); }, 50);
    `;
    const run = spawnSync(TSX, ["--eval", script], { encoding: "utf8", timeout: 30_000 });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const { counts, lines } = JSON.parse(run.stdout) as { counts: Record<string, number>; lines: string[] };
    expect(counts).toEqual({ exception: 3, rejection: 1 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^uncaught (exception|rejection) \(counted in apisnoop_proxy_uncaught_errors_total; the proxy goes on\): /,
    );
  });
});
