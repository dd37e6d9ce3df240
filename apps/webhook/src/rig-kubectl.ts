/** kubectl against the kube rig, for the webhook's and chart's rig tests. */
import { execFileSync } from "node:child_process";
import { rigKubeconfigPath } from "../../../tools/rig/rig";

/** Runs `kubectl --kubeconfig <rig admin> ...args` with optional stdin; returns stdout or throws with stderr. */
export function rigKubectl(args: string[], input?: string): string {
  try {
    return execFileSync("kubectl", ["--kubeconfig", rigKubeconfigPath("admin"), ...args], {
      encoding: "utf8",
      input,
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`kubectl ${args.join(" ")} failed: ${stderr.trim()}`);
  }
}

/** Applies one object given as JSON. */
export function rigApply(object: unknown): void {
  rigKubectl(["apply", "-f", "-"], JSON.stringify(object));
}
