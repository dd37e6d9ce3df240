/**
 * Where a process's CPU time went, from the `.cpuprofile` that `node --cpu-prof` writes: the sampled
 * time by self time per function and per module (a package, a Node.js internal module or a file of this
 * repository), and how much of the run the thread was idle. Enough to see what a benchmark's load costs.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The module a frame belongs to: `pkg` for node_modules, `node:x` for Node's own, a repo path, or a V8 pseudo-frame. */
function moduleOf(url: string, functionName: string): string {
  if (!url) return `(${functionName || "native"})`.replace(/^\(\((.*)\)\)$/, "($1)");
  const modules = url.lastIndexOf("node_modules/");
  if (modules !== -1) {
    const rest = url.slice(modules + "node_modules/".length).split("/");
    return rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith("node:")) return url;
  const repo = url.indexOf("/packages/") !== -1 ? url.indexOf("/packages/") : url.indexOf("/apps/");
  return repo !== -1 ? url.slice(repo + 1) : path.basename(url);
}

/** A summary of the profile in `file`: `top` lines per table. */
export function describeCpuProfile(file: string, top = 15): string {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    // A sample's delta is the time since the previous one: charged to the frame sampled now.
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = (byId.get(id) as ProfileNode).callFrame;
    total += us;
    if (functionName === "(idle)") idle += us;
    const where = url ? `${moduleOf(url, functionName)}:${lineNumber + 1}` : "";
    const fn = `${functionName || "(anonymous)"}${where ? ` ${where}` : ""}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const mod = moduleOf(url, functionName);
    byModule.set(mod, (byModule.get(mod) ?? 0) + us);
  }
  const busy = total - idle;
  const table = (title: string, rows: Map<string, number>) =>
    [
      title,
      ...[...rows]
        .filter(([name]) => name !== "(idle)")
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(
          ([name, us]) =>
            `  ${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${name}`,
        ),
    ].join("\n");
  return [
    `sampled ${(total / 1e6).toFixed(1)} s: busy ${(busy / 1e6).toFixed(1)} s, idle ${(idle / 1e6).toFixed(1)} s`,
    table("self time by module (share of busy):", byModule),
    table("self time by function:", byFunction),
  ].join("\n");
}

// `tsx tools/hostile/cpu-profile.ts FILE`: the summary of one profile.
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename ?? "")) {
  console.log(describeCpuProfile(process.argv[2] as string));
}
