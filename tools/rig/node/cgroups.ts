/**
 * The node's cgroup: kubelet (cgroupfs driver) puts every pod under `cgroupRoot` in each cgroup v1
 * hierarchy, and requires that cgroup to exist before it starts. The rig makes it, and at stop kills
 * whatever still runs in it and removes the whole subtree.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Mount points of the cgroup hierarchies: the v1 ones (`/sys/fs/cgroup/cpu`, `/sys/fs/cgroup/memory`, …)
 * and the v2 one (`/sys/fs/cgroup/unified` beside them here): runc makes every container's cgroup in the
 * v2 tree too, which a stop that looked at v1 alone left behind.
 */
export function cgroupHierarchies(): string[] {
  return readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" "))
    .filter((fields) => fields[2] === "cgroup" || fields[2] === "cgroup2")
    .map((fields) => fields[1] ?? "")
    .filter(Boolean);
}

/**
 * CPU weight (cgroup v1 `cpu.shares`) of the rig's cgroup, which holds every pod. At the default 1024 all
 * pods together weigh as much as one ordinary process: with ~30 runnable processes of other work on this
 * 2-core machine they got about 3% of it, and a pod's Node.js client took 9 minutes to make its first call.
 * 8192 weighs them as about eight processes, what the chart test's busy pods are.
 */
export const RIG_CPU_SHARES = 8192;

/**
 * Creates `root` in every hierarchy; a new cpuset cgroup starts with no CPUs, so it gets its parent's.
 * With `cpuShares`, the cpu hierarchy's `cpu.shares` of `root` is set to it.
 */
export function createCgroupRoot(root: string, cpuShares?: number): void {
  for (const hierarchy of cgroupHierarchies()) {
    const dir = join(hierarchy, root);
    mkdirSync(dir, { recursive: true });
    const shares = join(dir, "cpu.shares");
    if (cpuShares !== undefined && existsSync(shares)) writeFileSync(shares, String(cpuShares));
    for (const file of ["cpuset.cpus", "cpuset.mems"]) {
      const own = join(dir, file);
      if (existsSync(own) && readFileSync(own, "utf8").trim() === "") {
        writeFileSync(own, readFileSync(join(hierarchy, file), "utf8"));
      }
    }
  }
}

/** Every cgroup directory of `root`'s subtree in one hierarchy, deepest first. */
function subtree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const children = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => subtree(join(dir, entry.name)));
  return [...children, dir];
}

/** PIDs of every process in `root`'s subtree, in any hierarchy. */
export function cgroupProcesses(root: string): number[] {
  const pids = new Set<number>();
  for (const hierarchy of cgroupHierarchies()) {
    for (const dir of subtree(join(hierarchy, root))) {
      try {
        for (const line of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n")) {
          if (line.trim()) pids.add(Number(line));
        }
      } catch {
        // removed meanwhile
      }
    }
  }
  return [...pids];
}

/** The directories of `root` that still exist, in any hierarchy. */
export function cgroupLeftovers(root: string): string[] {
  return cgroupHierarchies()
    .map((hierarchy) => join(hierarchy, root))
    .filter((dir) => existsSync(dir));
}

/**
 * Kills (SIGKILL) every process left in `root`'s subtree, then removes the subtree in every hierarchy.
 * @throws Error naming the cgroups that could not be removed within 20 s.
 */
export async function removeCgroupRoot(root: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    for (const pid of cgroupProcesses(root)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const hierarchy of cgroupHierarchies()) {
      for (const dir of subtree(join(hierarchy, root))) {
        try {
          rmdirSync(dir);
        } catch {
          // busy: a process is still exiting; retried below
        }
      }
    }
    const left = cgroupLeftovers(root);
    if (left.length === 0) return;
    if (Date.now() > deadline) throw new Error(`rig node: cgroups not removed: ${left.join(", ")}`);
    await sleep(100);
  }
}
