#!/usr/bin/env node
// Runs the compiled CLI (apps/cli/dist, what the proxy image runs) with the given arguments, building it
// first when there is no build or a file it was built from changed since: `npm run proxy -- …`. No tsx and
// no module loader at run time, so the proxy starts in a fraction of the time and holds less than half
// the memory of the sources (docs/benchmarks.md, footprint).
//   node tools/build/compiled-cli.mjs <command> [options]
import { spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

const dist = fileURLToPath(new URL("../../apps/cli/dist/", import.meta.url));
const entry = `${dist}apisnoop.mjs`;

/** Why the build must be made again, or null when it is newer than every file it was built from. */
function staleBecause() {
  let builtAt;
  let inputs;
  try {
    builtAt = statSync(entry).mtimeMs;
    inputs = JSON.parse(readFileSync(`${dist}inputs.json`, "utf8"));
  } catch {
    return "no build yet";
  }
  for (const input of inputs) {
    let changedAt;
    try {
      changedAt = statSync(input).mtimeMs;
    } catch {
      return `${input} is gone`;
    }
    if (changedAt > builtAt) return `${input} changed`;
  }
  return null;
}

const reason = staleBecause();
if (reason) {
  // On stderr, so that the command's own output (JSON, Markdown) stays clean.
  process.stderr.write(`apisnoop: building the CLI into ${dist} (${reason})\n`);
  const build = spawnSync(
    process.execPath,
    ["--import", import.meta.resolve("tsx"), fileURLToPath(new URL("build-cli.ts", import.meta.url)), dist],
    { stdio: ["ignore", 2, 2] },
  );
  if (build.status !== 0) {
    process.stderr.write("apisnoop: the build failed (npm run build:cli shows why)\n");
    process.exit(1);
  }
}
// The bundle runs the command and sets the exit code.
await import(pathToFileURL(entry).href);
