/**
 * How rig:down finds what a node left: processes by mount namespace and by cgroup (the pods' containers
 * and shims outlive containerd), cgroups in every hierarchy, and the one line per kind of trace it fails
 * with. Real processes, a real mount namespace and real cgroups (root only).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import {
  cgroupHierarchies,
  cgroupLeftovers,
  cgroupProcesses,
  createCgroupRoot,
  removeCgroupRoot,
} from "./cgroups";
import { nodeNetwork, rigId } from "./config";
import { describeTraces, type HostTraces, hostTraces, processesInMountNamespace } from "./host-traces";

const children: ChildProcess[] = [];
const cgroupRoots: string[] = [];

/** A long sleep, started with `prefix` (e.g. `unshare --mount`) exec'ing into it, so its PID is the sleep's. */
function sleeper(prefix: string[] = []): ChildProcess & { pid: number } {
  const [command = "sleep", ...args] = [...prefix, "sleep", "300"];
  const child = spawn(command, args, { stdio: "ignore" });
  children.push(child);
  if (!child.pid) throw new Error(`${command} did not start`);
  return child as ChildProcess & { pid: number };
}

/** Until /proc/<pid>/ns/mnt differs from ours: unshare has made the namespace and exec'd. */
async function ownMountNamespace(pid: number): Promise<string> {
  const ours = readlinkSync("/proc/self/ns/mnt");
  for (let i = 0; i < 100; i++) {
    const theirs = readlinkSync(`/proc/${pid}/ns/mnt`);
    if (theirs !== ours && readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sleep")) return theirs;
    await sleep(20);
  }
  throw new Error(`process ${pid} never entered a mount namespace of its own`);
}

afterEach(async () => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  for (const root of cgroupRoots.splice(0)) await removeCgroupRoot(root).catch(() => undefined);
});

const root = process.getuid?.() === 0;
const cgroupsV1 = cgroupHierarchies().length > 0;

describe.skipIf(!root)("the processes a node leaves", () => {
  it("finds exactly the processes of a mount namespace, none of the host's", async () => {
    const inside = sleeper(["unshare", "--mount", "--propagation", "private"]).pid;
    const outside = sleeper().pid;
    const namespace = await ownMountNamespace(inside);
    expect(namespace).toMatch(/^mnt:\[\d+\]$/);
    expect(processesInMountNamespace(namespace)).toEqual([inside]);
    expect(processesInMountNamespace(readlinkSync("/proc/self/ns/mnt"))).toContain(outside);
    expect(processesInMountNamespace(readlinkSync("/proc/self/ns/mnt"))).not.toContain(inside);
  });

  it.skipIf(!cgroupsV1)(
    "finds a process in the rig's cgroup subtree, kills it and removes the subtree in every hierarchy",
    async () => {
      const cgroup = `/apisnoop-test-${process.pid}`;
      cgroupRoots.push(cgroup);
      createCgroupRoot(cgroup, 4096);
      const hierarchies = cgroupHierarchies();
      // The pods' weight against the host's other processes.
      const cpu = hierarchies.find((h) => existsSync(join(h, cgroup, "cpu.shares")));
      if (cpu) expect(readFileSync(join(cpu, cgroup, "cpu.shares"), "utf8").trim()).toBe("4096");
      expect(cgroupLeftovers(cgroup)).toEqual(hierarchies.map((h) => join(h, cgroup)));
      // A new cpuset cgroup gets its parent's CPUs, or no process could be moved into it.
      const cpuset = hierarchies.find((h) => existsSync(join(h, "cpuset.cpus")));
      if (cpuset) expect(readFileSync(join(cpuset, cgroup, "cpuset.cpus"), "utf8").trim()).not.toBe("");
      // As kubelet does: a pod's cgroup under the root, in one hierarchy only.
      const pids = hierarchies.find((h) => h.endsWith("/pids")) ?? (hierarchies[0] as string);
      createCgroupRoot(`${cgroup}/pod-a`);
      const pod = sleeper();
      const bystander = sleeper();
      writeFileSync(join(pids, cgroup, "pod-a", "cgroup.procs"), String(pod.pid));
      expect(cgroupProcesses(cgroup)).toEqual([pod.pid]);
      const exited = once(pod, "exit");
      await removeCgroupRoot(cgroup);
      expect(cgroupLeftovers(cgroup)).toEqual([]);
      expect(await exited).toEqual([null, "SIGKILL"]);
      expect(bystander.exitCode).toBeNull();
      expect(bystander.signalCode).toBeNull();
    },
  );

  it("finds nothing of a rig that never ran", () => {
    const dir = `/nonexistent/apisnoop-${process.pid}/.rig`;
    const traces = hostTraces(dir, nodeNetwork(rigId(dir)));
    expect(traces).toMatchObject({ processes: [], mounts: [], netns: false, hostLink: false, cgroups: [] });
  });
});

describe("describeTraces", () => {
  const nothing: HostTraces = {
    processes: [],
    mounts: [],
    netns: false,
    hostLink: false,
    cgroups: [],
    hostIptablesChains: ["iptables-save: KUBE-FIREWALL"],
  };

  it("says nothing when nothing is left, ignoring chains that were there before the rig started", () => {
    expect(describeTraces(nothing, ["iptables-save: KUBE-FIREWALL"])).toEqual([]);
  });

  it("names each kind of trace on one line", () => {
    const lines = describeTraces(
      {
        processes: ["41 /usr/bin/containerd-shim-runc-v2", "42 /pause"],
        mounts: ["/w/.rig/node/kubelet/pods/x/volumes"],
        netns: true,
        hostLink: true,
        cgroups: ["/sys/fs/cgroup/pids/apisnoop-1234abcd"],
        hostIptablesChains: ["iptables-save: KUBE-FIREWALL", "iptables-save: CNI-HOSTPORT-DNAT"],
      },
      ["iptables-save: KUBE-FIREWALL"],
    );
    expect(lines).toEqual([
      "processes: 41 /usr/bin/containerd-shim-runc-v2; 42 /pause",
      "mounts: /w/.rig/node/kubelet/pods/x/volumes",
      "network namespace still exists",
      "host link still exists",
      "cgroups: /sys/fs/cgroup/pids/apisnoop-1234abcd",
      "iptables chains on the host: iptables-save: CNI-HOSTPORT-DNAT",
    ]);
  });
});
