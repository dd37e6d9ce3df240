/**
 * rig:up with a node and rig:down, on a second node rig in a temporary RIG_DIR (its own network
 * namespace, link, cgroup and containerd): every process runs inside the node's network namespace, the
 * host sees none of its mounts even while a pod runs, and after the stop nothing is left — no process,
 * mount, network namespace, link, cgroup or iptables chain.
 */
import { mkdtempSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rigKubectl } from "../kubectl";
import { rigStatus, startRig, stopRig } from "../lifecycle";
import type { RigState } from "../rig";
import { until } from "../test-objects";
import { hostIptablesChains, hostTraces } from "./host-traces";
import { netnsPath } from "./network";

describe("a node rig's lifecycle (a separate rig in a temporary RIG_DIR)", () => {
  const dir = mkdtempSync(join(tmpdir(), "apisnoop-node-lifecycle-"));
  const savedRigDir = process.env.RIG_DIR;
  const chainsBefore = hostIptablesChains();
  let state: RigState;

  beforeAll(async () => {
    process.env.RIG_DIR = dir;
    const result = await startRig("cli", () => undefined, { node: true });
    expect(result.started).toBe(true);
    state = result.state;
  }, 600_000);

  afterAll(async () => {
    process.env.RIG_DIR = dir;
    await stopRig().catch(() => undefined);
    if (savedRigDir === undefined) delete process.env.RIG_DIR;
    else process.env.RIG_DIR = savedRigDir;
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs every process in the node's network namespace", () => {
    const node = state.node;
    if (!node) throw new Error("no node in the state");
    const netns = `net:[${statSync(netnsPath(node.network)).ino}]`;
    const pids = Object.entries(state.pids);
    expect(pids.map(([component]) => component).sort()).toEqual([
      "apiserver",
      "containerd",
      "controllerManager",
      "etcd",
      "kubeProxy",
      "kubelet",
      "scheduler",
    ]);
    for (const [component, pid] of pids) expect(readlinkSync(`/proc/${pid}/ns/net`), component).toBe(netns);
  });

  it("runs a pod without showing the host any of the node's mounts", async () => {
    process.env.RIG_DIR = dir;
    await rigKubectl([
      "run",
      "sandbox-only",
      "--image=rig.apisnoop.local/pause:3.10.1",
      "--image-pull-policy=Never",
      "--restart=Never",
    ]);
    await until(
      "the pod running",
      async () =>
        (await rigKubectl(["get", "pod", "sandbox-only", "-o", "jsonpath={.status.phase}"])) === "Running"
          ? true
          : null,
      120_000,
    );
    const node = state.node;
    if (!node) throw new Error("no node in the state");
    const traces = hostTraces(dir, node.network, node.mountNamespace);
    expect(traces.mounts).toEqual([]);
    expect(traces.netns).toBe(true);
    expect(traces.hostLink).toBe(true);
    expect(traces.cgroups.length).toBeGreaterThan(0);
    // containerd, a shim, the sandbox's and the container's pause, kubelet, kube-proxy.
    expect(traces.processes.length).toBeGreaterThanOrEqual(5);
  });

  it("stops exactly what it started and leaves nothing on the host", async () => {
    process.env.RIG_DIR = dir;
    const node = state.node;
    if (!node) throw new Error("no node in the state");
    const stopped = await stopRig();
    expect(stopped.sort()).toEqual(Object.keys(state.pids).sort());
    expect(rigStatus().state).toBeNull();
    const traces = hostTraces(dir, node.network, node.mountNamespace);
    expect(traces).toEqual({
      processes: [],
      mounts: [],
      netns: false,
      hostLink: false,
      cgroups: [],
      hostIptablesChains: chainsBefore,
    });
  });
});
