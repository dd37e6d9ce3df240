/** Runs the real `helm` (built by tools/kube/build.sh) against charts/apisnoop, for tests and the rig. */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { kubeBinDir } from "./kube-bin";
import { repoRoot } from "./rig";

/** The chart directory. */
export const chartDir = join(repoRoot, "charts", "apisnoop");

/** `<kube cache>/<version>/bin/helm`, whether or not it has been built. */
export function helmPath(): string {
  return join(kubeBinDir(), "helm");
}

/** Whether the helm binary exists (CI builds it with `npm run rig:build`). */
export function helmAvailable(): boolean {
  return existsSync(helmPath());
}

/** Runs helm with `args`, returning stdout; throws with helm's stderr on failure. */
export function runHelm(args: string[]): string {
  try {
    return execFileSync(helmPath(), args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`helm ${args.join(" ")} failed: ${stderr.trim()}`);
  }
}

/** `helm template` of the chart as release `release` in `namespace`, with extra helm flags. */
export function renderChart(release: string, namespace: string, flags: string[] = []): string {
  return runHelm(["template", release, chartDir, "--namespace", namespace, ...flags]);
}
