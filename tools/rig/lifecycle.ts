/**
 * Starts, inspects and stops the rig: etcd + kube-apiserver + kube-controller-manager (when built) on
 * 127.0.0.1 — or, with a node, the same plus containerd, kubelet, kube-scheduler, kube-proxy and CoreDNS in
 * a network namespace of their own (node/) — detached from the starting process, logging to `.rig/*.log`.
 * What each process is given is decided in config.ts, layout.ts and node/config.ts; this module writes
 * those files, runs the processes and waits for them.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../net/free-port";
import {
  apiserverArgs,
  auditPolicy,
  controllerManagerArgs,
  etcdArgs,
  etcdUrls,
  type RigPorts,
  SERVICE_IP,
  tokenOf,
  tokensCsv,
} from "./config";
import { type RigStartEnv, rigStartEnv } from "./env";
import { ensureKubeBinaries, kubeVersions } from "./kube-bin";
import { RIG_BINARY, type RigComponent, type RigLayout, rigExecutable, rigLayout } from "./layout";
import { rigId } from "./node/config";
import { hostIptablesChains } from "./node/host-traces";
import {
  checkNodePrerequisites,
  checkNodeRigDir,
  killNodeRuntime,
  prepareNode,
  removeNode,
  spawnInNetns,
  startNodeProcesses,
  waitNodeReady,
} from "./node/lifecycle";
import { freeNodeNetwork } from "./node/network";
import { generateRigPki, pemData } from "./pki";
import { processExecutable, spawnDetached, stopGroup } from "./processes";
import { type RigNodeState, type RigState, type RigTokenUser, rigDir } from "./rig";
import { otherRigClients, registerRigClient, unregisterRigClient, withRigLock } from "./rig-lock";
import {
  initialRigState,
  newRigTokens,
  presetPorts,
  type RigTokens,
  rigKubeconfigFiles,
  rigTokenEntries,
  runningRigAction,
} from "./start-plan";

const READY_TIMEOUT_MS = 180_000;

/** Stop order: the node's clients of the apiserver first, etcd last (containerd goes with the node's runtime). */
const STOP_ORDER: RigComponent[] = [
  "kubeProxy",
  "scheduler",
  "kubelet",
  "containerd",
  "controllerManager",
  "apiserver",
  "etcd",
];

/** How to start: with a node (kubelet and containerd run pods) or API-only (pods are stored, never run). */
export interface StartOptions {
  /**
   * Default: RIG_NODE ("1" node, "0" API-only) when set, else a node for `rig:up` (owner "cli") and
   * API-only for test runs (owner "global-setup"), which need no node unless a node test asks for one.
   */
  node?: boolean;
}

/** Whether a start with `owner` and `options` runs a node. */
export function wantsNode(owner: RigState["owner"], options: StartOptions = {}): boolean {
  if (options.node !== undefined) return options.node;
  return rigStartEnv().node ?? owner === "cli";
}

/** Result of {@link startRig}. */
export interface StartResult {
  state: RigState;
  /** False when the rig was already up and nothing was started. */
  started: boolean;
  /** Milliseconds from spawning etcd to kube-apiserver's /readyz answering ok. */
  startMs: number;
}

/** True when `pid` is alive and is the rig binary we started (guards against a recycled PID). */
export function isRigProcess(pid: number | undefined, component: RigComponent, binDir: string): boolean {
  const executable = processExecutable(pid);
  return executable !== undefined && executable === rigExecutable(component, binDir);
}

/**
 * Stops the rig when a test run started it and no other run still uses it. A rig started by `rig:up`
 * (owner "cli") is left alone: whoever ran rig:up runs rig:down.
 * @returns true when it stopped the rig.
 */
export async function releaseRig(): Promise<boolean> {
  return withRigLock(async () => {
    const others = unregisterRigClient();
    const { state } = rigStatus();
    if (state?.owner !== "global-setup" || others.length > 0) return false;
    await stopRigLocked();
    return true;
  });
}

/** GET `path` on the rig's apiserver with `token`; resolves with status and body, never rejects. */
export function apiserverGet(
  state: Pick<RigState, "server" | "caFile">,
  token: string,
  path: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(
      new URL(path, state.server),
      { ca: readFileSync(state.caFile), headers: { authorization: `Bearer ${token}` }, timeout: 5_000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (error) => resolve({ status: 0, body: String(error) }));
    req.end();
  });
}

function readToken(tokensFile: string, user: RigTokenUser): string {
  return tokenOf(readFileSync(tokensFile, "utf8"), user) ?? "";
}

function tail(path: string, lines = 25): string {
  if (!existsSync(path)) return `(no ${path})`;
  return readFileSync(path, "utf8").split("\n").slice(-lines).join("\n");
}

/** Processes of the current state file and whether each runs. */
export function rigStatus(): { state: RigState | null; running: Partial<Record<RigComponent, boolean>> } {
  const { state: statePath } = rigLayout(rigDir());
  if (!existsSync(statePath)) return { state: null, running: {} };
  const state = JSON.parse(readFileSync(statePath, "utf8")) as RigState;
  const running: Partial<Record<RigComponent, boolean>> = {};
  for (const component of STOP_ORDER) {
    const pid = state.pids[component];
    if (pid) running[component] = isRigProcess(pid, component, state.binDir);
  }
  return { state, running };
}

/** True when every process of the state file runs and /readyz answers ok. */
export async function isRigUp(): Promise<boolean> {
  const { state, running } = rigStatus();
  if (!state || Object.values(running).some((up) => !up)) return false;
  const { status, body } = await apiserverGet(state, readToken(state.tokensFile, "admin"), "/readyz");
  return status === 200 && body.trim() === "ok";
}

/**
 * Stops exactly the processes recorded in `.rig/state.json` (SIGTERM to each process group, SIGKILL after
 * 15 s), then removes the state file. Logs and the audit log stay for inspection.
 * @returns the components that were running.
 */
export async function stopRig(): Promise<RigComponent[]> {
  return withRigLock(stopRigLocked);
}

/**
 * @throws Error listing what a node left on the host (processes, mounts, its network namespace or link,
 * cgroups, iptables chains); the state file is then kept, so another rig:down tries again.
 */
async function stopRigLocked(): Promise<RigComponent[]> {
  const { state, running } = rigStatus();
  if (!state) return [];
  const stopped: RigComponent[] = [];
  const stop = async (component: RigComponent) => {
    const pid = state.pids[component];
    if (!pid || !running[component]) return;
    await stopGroup(pid, () => isRigProcess(pid, component, state.binDir));
    stopped.push(component);
  };
  const { node } = state;
  for (const component of STOP_ORDER) {
    if (component === "containerd") {
      if (node) {
        if (running.containerd) stopped.push("containerd");
        await killNodeRuntime({ ...state, node });
      }
      continue;
    }
    await stop(component);
  }
  const left = node ? await removeNode({ ...state, node }, rigDir()) : [];
  if (left.length > 0) {
    throw new Error(`rig:down: the node left on this host:\n  ${left.join("\n  ")}`);
  }
  rmSync(rigLayout(rigDir()).state, { force: true });
  return stopped;
}

function writeSecret(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600); // the mode option does not apply when the file already exists
}

function writeState(layout: RigLayout, state: RigState): void {
  writeSecret(layout.state, `${JSON.stringify(state, null, 2)}\n`);
}

/**
 * Starts etcd and kube-apiserver (and kube-controller-manager when it was built and RIG_KCM is not "0")
 * unless the rig is already up, and waits for /readyz (and for the controllers to run). Without a node
 * they listen on 127.0.0.1; with a node (see {@link StartOptions}) the cluster runs in its own network
 * namespace and kube-apiserver listens on the node's address, and the start waits until the node is Ready
 * and CoreDNS answers.
 *
 * Environment: RIG_NODE, RIG_APISERVER_PORT, RIG_ETCD_PORT, RIG_ETCD_PEER_PORT (default: free ports, or
 * 6443/2379/2380 in the node's namespace), RIG_AUDIT_REQUEST_RESPONSE (comma-separated `resource` or
 * `group/resource`, default `configmaps,apps/deployments`), RIG_FEATURE_GATES (default: the gates the
 * published spec is built with).
 * @throws Error with the tail of the failing component's log when it does not become ready, or when a node
 * is asked for while the rig runs without one and is not this run's to restart.
 */
export async function startRig(
  owner: RigState["owner"] = "cli",
  log: (line: string) => void = console.log,
  options: StartOptions = {},
): Promise<StartResult> {
  const node = wantsNode(owner, options);
  return withRigLock(async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await startRigLocked(owner, log, node);
        // Registered under the lock, so no other run's teardown can stop the rig in between.
        if (owner === "global-setup") registerRigClient();
        return result;
      } catch (error) {
        // Free ports are picked, released, then bound by etcd and kube-apiserver: another process (a
        // parallel test) can take one in between. A failed start has stopped what it started.
        if (attempt >= 3 || !String((error as Error).message).includes("address already in use")) throw error;
        log(`rig: a port was taken while starting, starting again (attempt ${attempt + 1} of 3)`);
      }
    }
  });
}

/**
 * A fresh cluster's files: certificates (the serving one also for `extraIps`), the token file, the
 * kubeconfigs and the audit policy. Tests must not depend on leftovers, so the previous etcd data, PKI and
 * logs are removed first.
 */
function writeRigFiles(
  layout: RigLayout,
  server: string,
  auditRequestResponse: string[],
  extraIps: string[],
): RigTokens {
  mkdirSync(layout.dir, { recursive: true, mode: 0o700 });
  rmSync(layout.etcdData, { recursive: true, force: true });
  rmSync(layout.pki.dir, { recursive: true, force: true });
  for (const file of [...Object.values(layout.logs), layout.auditLog]) rmSync(file, { force: true });

  const pki = generateRigPki(layout.pki, SERVICE_IP, extraIps);
  const tokens = newRigTokens(() => randomBytes(24).toString("hex"));
  writeSecret(layout.tokensFile, tokensCsv(rigTokenEntries(tokens)));
  const adminCert = { certificate: pemData(pki.adminCert), key: pemData(pki.adminKey) };
  for (const { path, content } of rigKubeconfigFiles(
    layout,
    server,
    pemData(pki.caCert),
    tokens,
    adminCert,
  )) {
    writeSecret(path, content);
  }
  writeFileSync(layout.auditPolicy, auditPolicy(auditRequestResponse));
  return tokens;
}

/**
 * Starts the rig unless it is already up (see {@link reuseRunningRig}), stopping whatever a failed start
 * left running.
 */
async function startRigLocked(
  owner: RigState["owner"],
  log: (line: string) => void,
  node: boolean,
): Promise<StartResult> {
  const layout = rigLayout(rigDir());
  const settings = rigStartEnv();
  const reused = await reuseRunningRig(layout, owner, node, log);
  if (reused) return reused;
  // Anything left from a half-dead rig is stopped before starting afresh.
  await stopRigLocked();
  const { state, tokens } = await prepareRigStart(layout, settings, owner, node);
  const started = Date.now();
  await stoppingRigOnFailure(() => runRigProcesses(layout, state, tokens, settings, log));
  return { state, started: true, startMs: Date.now() - started };
}

/**
 * The start's result when a rig is up and serves this start (adopted by rig:up if a test run started
 * it), or undefined when there is none or it must be restarted with a node.
 * @throws Error when a node is wanted and the rig without one is not this run's to restart.
 */
async function reuseRunningRig(
  layout: RigLayout,
  owner: RigState["owner"],
  node: boolean,
  log: (line: string) => void,
): Promise<StartResult | undefined> {
  if (!(await isRigUp())) return undefined;
  const state = rigStatus().state as RigState;
  const decision = runningRigAction(state, owner, node, () => otherRigClients().length > 0);
  switch (decision.action) {
    case "adopt":
      state.owner = "cli";
      writeState(layout, state);
      return { state, started: false, startMs: 0 };
    case "use":
      return { state, started: false, startMs: 0 };
    case "refuse":
      throw new Error(decision.message);
    case "restart":
      log("rig: restarting the rig with a node");
      return undefined;
  }
}

/**
 * Everything before the first process: the node's prerequisites, the binaries, the node's network, the
 * ports, the rig's files, and the state file, written before anything runs so that rig:down can clean up
 * a rig that never became ready.
 */
async function prepareRigStart(
  layout: RigLayout,
  settings: RigStartEnv,
  owner: RigState["owner"],
  node: boolean,
): Promise<{ state: RigState; tokens: RigTokens }> {
  if (node) {
    checkNodePrerequisites();
    checkNodeRigDir(layout.dir);
  }
  const binDir = ensureKubeBinaries({ node });
  const network = node ? freeNodeNetwork(rigId(layout.dir)) : undefined;
  const address = network?.nodeAddress ?? "127.0.0.1";
  const preset = presetPorts(settings.ports, network !== undefined);
  const ports: RigPorts = {
    apiserver: preset.apiserver ?? (await freePort()),
    etcd: preset.etcd ?? (await freePort()),
    etcdPeer: preset.etcdPeer ?? (await freePort()),
  };
  const server = `https://${address}:${ports.apiserver}`;
  const tokens = writeRigFiles(layout, server, settings.auditRequestResponse, network ? [address] : []);
  const state = initialRigState({
    layout,
    server,
    ports,
    binDir,
    kubeVersion: kubeVersions().kube,
    owner,
    auditRequestResponse: settings.auditRequestResponse,
    startedAt: new Date(),
    ...(network && { node: { network, hostChainsBefore: hostIptablesChains() } }),
  });
  writeState(layout, state);
  return { state, tokens };
}

/** Runs `start`; when it fails, stops what it started and rethrows, with any failure to clean up appended. */
async function stoppingRigOnFailure(start: () => Promise<void>): Promise<void> {
  try {
    await start();
  } catch (error) {
    try {
      await stopRigLocked();
    } catch (cleanup) {
      throw new Error(`${(error as Error).message}\n${(cleanup as Error).message}`);
    }
    throw error;
  }
}

/**
 * Spawns the processes of a prepared start and waits for each: etcd and kube-apiserver, then
 * kube-controller-manager (when built and wanted), then the node. Each PID is saved as soon as it is known.
 */
async function runRigProcesses(
  layout: RigLayout,
  state: RigState,
  tokens: RigTokens,
  settings: RigStartEnv,
  log: (line: string) => void,
): Promise<void> {
  const network = state.node?.network;
  const nodeFiles =
    network && (await prepareNode(layout, network, state.server, pemData(layout.pki.caCert), tokens.node));
  const spawn = (component: RigComponent, args: string[]) => spawnRigProcess(layout, state, component, args);
  const save = () => writeState(layout, state);

  state.pids.etcd = await spawn("etcd", etcdArgs(layout, state.ports));
  state.pids.apiserver = await spawn(
    "apiserver",
    apiserverArgs(layout, {
      ports: state.ports,
      address: network?.nodeAddress ?? "127.0.0.1",
      node: !!network,
      featureGates: settings.featureGates,
    }),
  );
  save();
  log(
    `rig: etcd pid ${state.pids.etcd} on ${etcdUrls(state.ports).client}, kube-apiserver pid ${state.pids.apiserver} on ${state.server}${network ? ` (network namespace ${network.netns})` : ""}`,
  );
  await waitReady(state, tokens.users.admin, layout);

  if (settings.controllerManager && existsSync(rigExecutable("controllerManager", state.binDir))) {
    state.pids.controllerManager = await spawn("controllerManager", controllerManagerArgs(layout));
    save();
    log(`rig: kube-controller-manager pid ${state.pids.controllerManager}`);
    await waitControllers(state, tokens.users.admin, layout);
  }
  if (nodeFiles && state.node) {
    const withNode = state as RigState & { node: RigNodeState };
    await startNodeProcesses(layout, nodeFiles, withNode, save, log);
    await waitNodeReady(state, () => assertRunning(state), log);
  }
}

/** Spawns one control-plane process: in the node's network namespace when there is one, else detached here. */
async function spawnRigProcess(
  layout: RigLayout,
  state: RigState,
  component: RigComponent,
  args: string[],
): Promise<number> {
  const network = state.node?.network;
  if (network) return await spawnInNetns(layout, network, component, state.binDir, args);
  return (
    spawnDetached(rigExecutable(component, state.binDir), args, layout.logs[component], layout.dir).pid ?? 0
  );
}

/** Throws naming the first process of `state` that no longer runs, with its log's tail. */
function assertRunning(state: RigState): void {
  const layout = rigLayout(rigDir());
  for (const component of STOP_ORDER) {
    const pid = state.pids[component];
    if (pid && !isRigProcess(pid, component, state.binDir)) {
      const logFile = layout.logs[component];
      throw new Error(`rig: ${RIG_BINARY[component]} exited; last lines of ${logFile}:\n${tail(logFile)}`);
    }
  }
}

/** Throws naming the component whose process died, with its log's tail (the caller stops the rest). */
function failExited(component: RigComponent, layout: RigLayout): never {
  const logFile = layout.logs[component];
  throw new Error(
    `rig: ${RIG_BINARY[component]} exited during start; last lines of ${logFile}:\n${tail(logFile)}`,
  );
}

/**
 * Waits until kube-controller-manager's controllers run: the service-account controller has created
 * `default/default`. Tests creating pods need that account (the ServiceAccount admission plugin checks it).
 */
async function waitControllers(state: RigState, token: string, layout: RigLayout): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!isRigProcess(state.pids.controllerManager, "controllerManager", state.binDir)) {
      failExited("controllerManager", layout);
    }
    const { status } = await apiserverGet(state, token, "/api/v1/namespaces/default/serviceaccounts/default");
    if (status === 200) return;
    await sleep(250);
  }
  throw new Error(
    `rig: kube-controller-manager did not create default/default within ${READY_TIMEOUT_MS / 1000}s`,
  );
}

async function waitReady(state: RigState, token: string, layout: RigLayout): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = "";
  while (Date.now() < deadline) {
    for (const component of ["etcd", "apiserver"] as const) {
      if (!isRigProcess(state.pids[component], component, state.binDir)) failExited(component, layout);
    }
    const { status, body } = await apiserverGet(state, token, "/readyz");
    if (status === 200 && body.trim() === "ok") return;
    last = `${status} ${body.slice(0, 300)}`;
    await sleep(250);
  }
  throw new Error(
    `rig: kube-apiserver not ready after ${READY_TIMEOUT_MS / 1000}s (last /readyz: ${last}); last lines of the log:\n${tail(layout.logs.apiserver)}`,
  );
}
