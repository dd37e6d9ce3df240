/**
 * kubectl against the kube rig, for rig tests. Asynchronous on purpose: a server under test (the webhook)
 * may run in the same process and must keep answering while kubectl waits.
 */
import { execFile } from "node:child_process";
import { rigKubeconfigPath } from "./rig";

/** Runs `kubectl --kubeconfig <rig admin> ...args` with optional stdin; resolves stdout, rejects with stderr. */
export function rigKubectl(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "kubectl",
      ["--kubeconfig", rigKubeconfigPath("admin"), ...args],
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`kubectl ${args.join(" ")} failed: ${stderr.trim()}`));
        else resolve(stdout);
      },
    );
    child.stdin?.end(input ?? "");
  });
}

/** Applies one object given as JSON. */
export async function rigApply(object: unknown): Promise<void> {
  await rigKubectl(["apply", "-f", "-"], JSON.stringify(object));
}
