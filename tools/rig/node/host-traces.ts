/**
 * What a rig node has left on this host, looked up from the host's side: processes in its mount
 * namespace or cgroup, mounts of its directories, its network namespace and link, its cgroups, and
 * iptables chains in the host's own tables. rig:down checks that it is all gone; the lifecycle test too.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { cgroupLeftovers, cgroupProcesses } from "./cgroups";
import type { NodeNetwork } from "./config";
import { hostLinkExists, netnsPath } from "./network";

/** Everything found; empty lists and `false` mean nothing is left. */
export interface HostTraces {
  /** `pid executable` of processes still in the node's mount namespace or cgroup. */
  processes: string[];
  /** Mount points on the host under the rig directory. */
  mounts: string[];
  netns: boolean;
  hostLink: boolean;
  cgroups: string[];
  /** iptables chains in the host's own tables that kube-proxy or the CNI plugins would create. */
  hostIptablesChains: string[];
}

/** PIDs whose mount namespace is `mountNamespace` (`mnt:[4026532…]`, as readlink /proc/<pid>/ns/mnt shows). */
export function processesInMountNamespace(mountNamespace: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/mnt`) === mountNamespace) pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function describe(pid: number): string {
  try {
    return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0]}`;
  } catch {
    return `${pid} (exited)`;
  }
}

/** Chains named like kube-proxy's (`KUBE-…`) or the CNI plugins' (`CNI-…`) in the host's iptables. */
export function hostIptablesChains(): string[] {
  const chains = new Set<string>();
  for (const save of ["iptables-save", "iptables-legacy-save"]) {
    try {
      const dump = execFileSync(save, [], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      for (const match of dump.matchAll(/^:((?:KUBE|CNI)-[\w-]+)/gm)) chains.add(`${save}: ${match[1]}`);
    } catch {
      // that backend is not installed
    }
  }
  return [...chains].sort();
}

/** The traces of the node of `network` whose files live under `rigDir`. */
export function hostTraces(rigDir: string, network: NodeNetwork, mountNamespace?: string): HostTraces {
  const pids = new Set([
    ...(mountNamespace ? processesInMountNamespace(mountNamespace) : []),
    ...cgroupProcesses(network.cgroupRoot),
  ]);
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((point) => point === rigDir || point.startsWith(`${rigDir}/`));
  return {
    processes: [...pids].map(describe),
    mounts,
    netns: existsSync(netnsPath(network)),
    hostLink: hostLinkExists(network),
    cgroups: cgroupLeftovers(network.cgroupRoot),
    hostIptablesChains: hostIptablesChains(),
  };
}

/** One line per kind of trace left, or none. */
export function describeTraces(traces: HostTraces, before: readonly string[] = []): string[] {
  const lines: string[] = [];
  if (traces.processes.length > 0) lines.push(`processes: ${traces.processes.join("; ")}`);
  if (traces.mounts.length > 0) lines.push(`mounts: ${traces.mounts.join(", ")}`);
  if (traces.netns) lines.push("network namespace still exists");
  if (traces.hostLink) lines.push("host link still exists");
  if (traces.cgroups.length > 0) lines.push(`cgroups: ${traces.cgroups.join(", ")}`);
  const newChains = traces.hostIptablesChains.filter((chain) => !before.includes(chain));
  if (newChains.length > 0) lines.push(`iptables chains on the host: ${newChains.join(", ")}`);
  return lines;
}
