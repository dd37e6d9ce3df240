/** Locates (and, when missing, builds) the etcd / kube-apiserver / helm binaries built by tools/kube/build.sh. */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { kubeCacheRoot } from "./env";
import { repoRoot } from "./rig";

const kubeToolsDir = join(repoRoot, "tools", "kube");

/** The pinned versions from tools/kube/versions.env (the same file build.sh sources). */
export function kubeVersions(): { kube: string; helm: string; coredns: string; pause: string } {
  const env = Object.fromEntries(
    readFileSync(join(kubeToolsDir, "versions.env"), "utf8")
      .split("\n")
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => line.split("=", 2) as [string, string]),
  );
  if (!env.KUBE_VERSION || !env.HELM_VERSION || !env.COREDNS_VERSION || !env.PAUSE_VERSION)
    throw new Error("tools/kube/versions.env lacks KUBE_VERSION/HELM_VERSION/COREDNS_VERSION/PAUSE_VERSION");
  return {
    kube: env.KUBE_VERSION,
    helm: env.HELM_VERSION,
    coredns: env.COREDNS_VERSION,
    pause: env.PAUSE_VERSION,
  };
}

/** `<cache>/<KUBE_VERSION>/bin`, where build.sh puts them ({@link kubeCacheRoot}). */
export function kubeBinDir(): string {
  return join(kubeCacheRoot(), kubeVersions().kube, "bin");
}

/**
 * Runs tools/kube/build.sh (about a second when warm, a cold build prints its progress) and returns the bin
 * dir. `node: false` skips the node's components (RIG_BUILD_NODE=0), for an API-only rig.
 * @throws Error when the build fails.
 */
export function ensureKubeBinaries(options: { node?: boolean } = {}): string {
  const env = options.node === false ? { ...process.env, RIG_BUILD_NODE: "0" } : process.env;
  const result = spawnSync("bash", [join(kubeToolsDir, "build.sh")], { stdio: "inherit", env });
  if (result.status !== 0)
    throw new Error(`tools/kube/build.sh failed (exit ${result.status ?? result.signal})`);
  const bin = kubeBinDir();
  for (const name of ["etcd", "kube-apiserver"]) {
    if (!existsSync(join(bin, name))) throw new Error(`build.sh finished but ${join(bin, name)} is missing`);
  }
  return bin;
}
