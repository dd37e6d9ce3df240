import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { WEB_DIR } from "./dashboard-server";

/** Inputs of the Next build: the app's sources, its config, and the workspace packages it bundles. */
const BUILD_INPUTS = [
  path.join(WEB_DIR, "src"),
  path.join(WEB_DIR, "next.config.ts"),
  path.join(WEB_DIR, "package.json"),
  path.join(WEB_DIR, "../../packages/protocol/src"),
  path.join(WEB_DIR, "../../packages/openapi/src/types.ts"),
];
const STAMP = path.join(WEB_DIR, ".next", "apisnoop-sources.sha256");

/** A hash of everything the production build is made from (test files excluded). */
export function buildInputsHash(): string {
  const hash = createHash("sha256");
  const visit = (entry: string) => {
    if (!existsSync(entry)) return;
    if (statSync(entry).isDirectory()) {
      for (const name of readdirSync(entry).sort()) visit(path.join(entry, name));
    } else if (!/\.test\.tsx?$/.test(entry)) {
      hash.update(path.relative(WEB_DIR, entry)).update("\0").update(readFileSync(entry)).update("\0");
    }
  };
  for (const input of BUILD_INPUTS) visit(input);
  return hash.digest("hex");
}

/** Whether `.next` holds a production build of the current sources. */
export function nextBuildIsCurrent(): boolean {
  return (
    existsSync(path.join(WEB_DIR, ".next", "BUILD_ID")) &&
    existsSync(STAMP) &&
    readFileSync(STAMP, "utf8") === buildInputsHash()
  );
}

/**
 * Runs `next build` unless the production build is current (a first `npm start` builds once; later
 * starts reuse it). Resolves when the build is usable; rejects with the build's last lines on failure.
 */
export async function ensureNextBuild(log: (line: string) => void): Promise<"built" | "current"> {
  if (nextBuildIsCurrent()) return "current";
  const hash = buildInputsHash();
  log("building the dashboard (next build, once per change of its sources: one to two minutes)…");
  const started = Date.now();
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [createRequire(import.meta.url).resolve("next/dist/bin/next"), "build"],
      {
        cwd: WEB_DIR,
        env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const keep = (chunk: Buffer) => output.push(...chunk.toString("utf8").split("\n"));
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) {
    throw new Error(`next build failed (exit ${code}):\n${output.filter(Boolean).slice(-25).join("\n")}`);
  }
  writeFileSync(STAMP, hash);
  log(`dashboard built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return "built";
}
