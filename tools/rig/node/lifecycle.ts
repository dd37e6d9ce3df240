/**
 * The rig node's processes: containerd (in a mount namespace of its own, see nodeRuntimeScript), kubelet
 * and kube-proxy (in that mount namespace too), kube-scheduler, all in the node's network namespace; then
 * CoreDNS as a Deployment. And the way back: everything killed, the cgroup subtree and the network
 * namespace removed, and the host checked for anything left.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { importImages } from "../../images/containerd-import";
import { buildImage } from "../../images/oci-image";
import { corednsImage, pauseImage } from "../../images/rig-images";
import { kubeconfig } from "../config";
import { RIG_BINARY, type RigComponent, type RigLayout, rigExecutable } from "../layout";
import { spawnDetached, untilExecuted } from "../processes";
import type { RigNodeState, RigState } from "../rig";
import { createCgroupRoot, RIG_CPU_SHARES, removeCgroupRoot } from "./cgroups";
import {
  CLUSTER_DNS_IP,
  cniConfList,
  containerdConfig,
  corednsManifests,
  KUBELET_SYSCTL_PINS,
  kubeletArgs,
  kubeletConfig,
  kubeProxyArgs,
  kubeProxyConfig,
  NODE_NAME,
  NODE_TOKEN_USERS,
  type NodeLayout,
  type NodeNetwork,
  type NodeTokenUser,
  nodeLayout,
  nodeRuntimeScript,
  schedulerArgs,
} from "./config";
import { describeTraces, hostTraces, processesInMountNamespace } from "./host-traces";
import { createNodeNetwork, deleteNodeNetwork, netnsPath } from "./network";

const NODE_READY_TIMEOUT_MS = 240_000;

/** Refuses a rig directory the node's mount namespace would hide (it mounts over /run, /var/lib, /var/log). */
export function checkNodeRigDir(dir: string): void {
  for (const hidden of ["/run", "/var/run", "/var/lib", "/var/log"]) {
    if (dir === hidden || dir.startsWith(`${hidden}/`)) {
      throw new Error(
        `rig node: RIG_DIR ${dir} is under ${hidden}, which the node's mount namespace replaces`,
      );
    }
  }
}

/** Checks the host tools the node needs, with the Debian package to install for each. */
export function checkNodePrerequisites(): void {
  const missing: string[] = [];
  for (const [file, pkg] of [
    ["/usr/bin/containerd", "containerd"],
    ["/usr/bin/ctr", "containerd"],
    ["/usr/sbin/runc", "runc"],
    ["/usr/lib/cni/bridge", "containernetworking-plugins"],
    ["/usr/sbin/iptables", "iptables"],
    ["/usr/sbin/conntrack", "conntrack"],
    ["/usr/bin/nsenter", "util-linux"],
  ]) {
    if (!existsSync(file as string)) missing.push(`${file} (Debian package ${pkg})`);
  }
  if (process.getuid?.() !== 0) missing.push("root (kubelet and containerd need it)");
  if (missing.length > 0)
    throw new Error(`rig node: missing ${missing.join(", ")}; or start API-only: rig:up --api-only`);
}

/**
 * Creates the node's network namespace and cgroup and writes its files (kubelet, containerd, CNI,
 * kube-proxy configuration and the node processes' kubeconfigs). Kubelet's previous root is removed: each
 * start is a fresh node; containerd's root (the imported images) is kept.
 */
export async function prepareNode(
  rig: RigLayout,
  network: NodeNetwork,
  server: string,
  caData: string,
  tokens: Record<NodeTokenUser, string>,
): Promise<NodeLayout> {
  const node = nodeLayout(rig);
  await createNodeNetwork(network);
  createCgroupRoot(network.cgroupRoot, RIG_CPU_SHARES);
  for (const dir of [node.kubeletRoot, node.kubeletCertDir, node.cniConfDir, node.cniIpamDir, node.varLog]) {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const dir of [
    node.dir,
    node.containerdRoot,
    node.kubeletRoot,
    node.kubeletCertDir,
    node.cniConfDir,
    node.cniIpamDir,
    node.volumePluginDir,
    node.varLog,
    node.sysctlPins,
    node.volumes,
  ]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  const pause = pauseImage().name;
  writeFileSync(node.containerdConfig, containerdConfig(node, pause));
  writeFileSync(`${node.cniConfDir}/10-rig.conflist`, cniConfList(node));
  writeFileSync(node.resolvConf, "");
  for (const [key, value] of Object.entries(KUBELET_SYSCTL_PINS)) {
    writeFileSync(`${node.sysctlPins}/${key.replaceAll("/", ".")}`, `${value}\n`);
  }
  writeFileSync(node.kubeletConfig, kubeletConfig(node, { network, caFile: rig.pki.caCert }));
  writeFileSync(node.kubeProxyConfig, kubeProxyConfig(node));
  const write = (path: string, who: NodeTokenUser) =>
    writeFileSync(path, kubeconfig(server, caData, NODE_TOKEN_USERS[who].user, { token: tokens[who] }), {
      mode: 0o600,
    });
  write(node.kubeletKubeconfig, "kubelet");
  write(node.schedulerKubeconfig, "scheduler");
  write(node.kubeProxyKubeconfig, "kubeProxy");
  return node;
}

/**
 * Spawns `component` through `nsenter` with `nsenterArgs` (the namespaces to enter) and resolves once
 * nsenter has exec'ed it, so the PID is the component's and its executable says so.
 */
export async function spawnEntering(
  rig: RigLayout,
  nsenterArgs: string[],
  component: RigComponent,
  binDir: string,
  args: string[],
): Promise<number> {
  const executable = rigExecutable(component, binDir);
  const pid = spawnDetached(
    "nsenter",
    [...nsenterArgs, "--", executable, ...args],
    rig.logs[component],
    rig.dir,
  ).pid;
  if (!pid) throw new Error(`rig: ${component} did not start`);
  await untilExecuted(pid, executable).catch((error: Error) => {
    throw new Error(`rig: ${RIG_BINARY[component]}: ${error.message}; see ${rig.logs[component]}`);
  });
  return pid;
}

/** Spawns `component` inside the node's network namespace (only). */
export function spawnInNetns(
  rig: RigLayout,
  network: NodeNetwork,
  component: RigComponent,
  binDir: string,
  args: string[],
): Promise<number> {
  return spawnEntering(rig, [`--net=${netnsPath(network)}`], component, binDir, args);
}

function ctrReady(socket: string): boolean {
  try {
    execFileSync("ctr", ["--address", socket, "version"], { stdio: "ignore", timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts containerd, imports the sandbox and CoreDNS images, then kubelet, kube-scheduler and kube-proxy.
 * Records each PID in `state` (and saves it through `save`) as soon as it runs.
 */
export async function startNodeProcesses(
  rig: RigLayout,
  node: NodeLayout,
  state: RigState & { node: RigNodeState },
  save: () => void,
  log: (line: string) => void,
): Promise<void> {
  const { network } = state.node;
  const containerd = spawnDetached(
    "nsenter",
    [
      `--net=${netnsPath(network)}`,
      "--",
      "unshare",
      "--mount",
      "--propagation",
      "slave",
      "--",
      "/bin/sh",
      "-c",
      nodeRuntimeScript(),
      "rig-node-runtime",
      node.containerdConfig,
      node.varLog,
      node.sysctlPins,
    ],
    rig.logs.containerd,
    rig.dir,
  ).pid;
  if (!containerd) throw new Error("rig node: containerd did not start");
  state.pids.containerd = containerd;
  save();
  const deadline = Date.now() + 60_000;
  while (!ctrReady(node.containerdSocket)) {
    if (!existsSync(`/proc/${containerd}`))
      throw new Error(`rig node: containerd exited; see ${rig.logs.containerd}`);
    if (Date.now() > deadline)
      throw new Error(`rig node: containerd not ready in 60 s; see ${rig.logs.containerd}`);
    await sleep(200);
  }
  state.node.mountNamespace = readlinkSync(`/proc/${containerd}/ns/mnt`);
  save();
  log(`rig: containerd pid ${containerd} (${state.node.mountNamespace}), socket ${node.containerdSocket}`);

  const images = [pauseImage(), corednsImage()].map((recipe) => buildImage(recipe, log));
  importImages(node.containerdSocket, images, log);

  // kubelet and kube-proxy share containerd's mount namespace: kubelet's volume mounts must be where
  // containerd and runc see them, and both see the same /run (xtables lock) and pinned kernel settings.
  const inNode = (component: RigComponent, args: string[]) =>
    spawnEntering(rig, ["--target", String(containerd), "--mount", "--net"], component, state.binDir, args);
  state.pids.kubelet = await inNode("kubelet", kubeletArgs(node, network));
  state.pids.scheduler = await spawnInNetns(rig, network, "scheduler", state.binDir, schedulerArgs(node));
  state.pids.kubeProxy = await inNode("kubeProxy", kubeProxyArgs(node));
  save();
  log(
    `rig: kubelet pid ${state.pids.kubelet}, kube-scheduler pid ${state.pids.scheduler}, kube-proxy pid ${state.pids.kubeProxy}`,
  );
}

/** `kubectl --kubeconfig <admin>` with `input` on stdin. */
function kubectl(state: RigState, args: string[], input?: string): string {
  return execFileSync("kubectl", ["--kubeconfig", state.kubeconfigs.admin, ...args], {
    encoding: "utf8",
    input,
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/**
 * Installs CoreDNS and waits until the node is Ready and CoreDNS answers its readiness probe.
 * @param alive throws when one of the rig's processes has died (checked while waiting).
 */
export async function waitNodeReady(
  state: RigState,
  alive: () => void,
  log: (line: string) => void,
): Promise<void> {
  const deadline = Date.now() + NODE_READY_TIMEOUT_MS;
  const poll = async <T>(what: string, probe: () => T | undefined): Promise<T> => {
    let lastError = "";
    for (;;) {
      alive();
      try {
        const value = probe();
        if (value !== undefined) return value;
      } catch (error) {
        lastError = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
      }
      if (Date.now() > deadline) {
        throw new Error(
          `rig node: ${what} not reached in ${NODE_READY_TIMEOUT_MS / 1000}s${lastError ? `: ${lastError}` : ""}`,
        );
      }
      await sleep(500);
    }
  };
  await poll("node Ready", () => {
    const ready = kubectl(state, [
      "get",
      "node",
      NODE_NAME,
      "-o",
      'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
    ]);
    return ready === "True" ? true : undefined;
  });
  log(`rig: node ${NODE_NAME} Ready`);
  kubectl(
    state,
    ["apply", "--server-side", "--field-manager=apisnoop-rig", "-f", "-"],
    JSON.stringify({ apiVersion: "v1", kind: "List", items: corednsManifests(corednsImage().name) }),
  );
  await poll("CoreDNS available", () => {
    const ready = kubectl(state, [
      "-n",
      "kube-system",
      "get",
      "deploy",
      "coredns",
      "-o",
      "jsonpath={.status.readyReplicas}",
    ]);
    return Number(ready) >= 1 ? true : undefined;
  });
  log(`rig: CoreDNS ready at ${CLUSTER_DNS_IP}`);
}

/**
 * Kills the node's runtime: containerd, the shims and every container (containerd's shims and the
 * containers outlive containerd, so all of them), then removes the node's cgroup subtree. kubelet and
 * kube-proxy are stopped before, the control plane after.
 */
export async function killNodeRuntime(state: RigState & { node: RigNodeState }): Promise<void> {
  const { network, mountNamespace } = state.node;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const pids = new Set([
      ...(mountNamespace ? processesInMountNamespace(mountNamespace) : []),
      ...(state.pids.containerd ? [state.pids.containerd] : []),
    ]);
    const alive = [...pids].filter((pid) => existsSync(`/proc/${pid}`));
    if (alive.length === 0 || Date.now() > deadline) break;
    for (const pid of alive) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    await sleep(100);
  }
  await removeCgroupRoot(network.cgroupRoot);
}

/**
 * Removes the node's network namespace (once nothing of the rig runs in it) and reports what the node
 * left on the host: one line per kind of trace, none when it left nothing.
 */
export async function removeNode(
  state: RigState & { node: RigNodeState },
  rigDirPath: string,
): Promise<string[]> {
  await deleteNodeNetwork(state.node.network);
  return describeTraces(
    hostTraces(rigDirPath, state.node.network, state.node.mountNamespace),
    state.node.hostChainsBefore,
  );
}
