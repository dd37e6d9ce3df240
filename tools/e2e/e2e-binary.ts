/**
 * The upstream e2e suite binary (`e2e.test`), built by tools/e2e/build.sh from the same k8s.io/kubernetes
 * version as the rig's kube-apiserver and cached next to it.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { kubeBinDir } from "../rig/kube-bin";
import { repoRoot } from "../rig/rig";
import { prebuiltE2eBinary } from "./env";

/** Where build.sh puts e2e.test: `<cache>/<KUBE_VERSION>/bin/e2e.test`. */
export function e2eBinaryPath(): string {
  return join(kubeBinDir(), "e2e.test");
}

/** e2e.test is there to run (built by build.sh, or given by `E2E_TEST_BINARY`), so no build is needed first. */
export function e2eBinaryAvailable(): boolean {
  return existsSync(prebuiltE2eBinary() ?? e2eBinaryPath());
}

/** Runs a build script of tools/e2e, its output on this process's terminal. */
function runBuildScript(script: string): void {
  const result = spawnSync("bash", [join(repoRoot, "tools", "e2e", script)], { stdio: "inherit" });
  if (result.status !== 0) {
    throw new Error(`tools/e2e/${script} failed (exit ${result.status ?? result.signal})`);
  }
}

/**
 * Runs tools/e2e/build-helpers.sh (the ginkgo CLI, nnp and the sample API server: seconds) and tools/e2e/build.sh (about a
 * second when warm; a cold build prints progress and its total time) and
 * returns the path of e2e.test. `E2E_TEST_BINARY` names a prebuilt one instead (e.g. from the release's
 * kubernetes-test tarball; it must match the rig's Kubernetes version).
 * @throws Error when the build fails or leaves no binary.
 */
export function ensureE2eBinary(): string {
  runBuildScript("build-helpers.sh");
  const prebuilt = prebuiltE2eBinary();
  if (prebuilt) {
    if (!existsSync(prebuilt)) throw new Error(`E2E_TEST_BINARY=${prebuilt} does not exist`);
    return prebuilt;
  }
  runBuildScript("build.sh");
  const binary = e2eBinaryPath();
  if (!existsSync(binary)) throw new Error(`tools/e2e/build.sh finished but ${binary} is missing`);
  return binary;
}
