/**
 * Starts, inspects and stops the rig: etcd + kube-apiserver + kube-controller-manager (when built) on
 * 127.0.0.1, detached from the starting process, logging to `.rig/*.log`. What each process is given is
 * decided in config.ts and layout.ts; this module writes those files, runs the processes and waits for them.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  apiserverArgs,
  auditPolicy,
  controllerManagerArgs,
  DEFAULT_AUDIT_REQUEST_RESPONSE,
  DEFAULT_FEATURE_GATES,
  etcdArgs,
  etcdUrls,
  kubeconfig,
  parseAuditRequestResponse,
  type RigPorts,
  SERVICE_IP,
  tokenOf,
  tokensCsv,
} from "./config";
import { ensureKubeBinaries, kubeVersions } from "./kube-bin";
import { RIG_BINARY, type RigComponent, type RigLayout, rigLayout } from "./layout";
import { generateRigPki, pemData } from "./pki";
import { freePort, processExecutable, spawnDetached, stopGroup } from "./processes";
import { RIG_TOKEN_USERS, type RigState, type RigTokenUser, rigDir } from "./rig";
import { registerRigClient, unregisterRigClient, withRigLock } from "./rig-lock";

const READY_TIMEOUT_MS = 180_000;

/** Stop order: clients of the apiserver first, etcd last. */
const STOP_ORDER: RigComponent[] = ["controllerManager", "apiserver", "etcd"];

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
  return executable !== undefined && executable === join(binDir, RIG_BINARY[component]);
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

async function stopRigLocked(): Promise<RigComponent[]> {
  const { state, running } = rigStatus();
  if (!state) return [];
  const stopped: RigComponent[] = [];
  for (const component of STOP_ORDER) {
    const pid = state.pids[component];
    if (!pid || !running[component]) continue;
    await stopGroup(pid, () => isRigProcess(pid, component, state.binDir));
    stopped.push(component);
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
 * on 127.0.0.1 unless the rig is already up, and waits for /readyz (and for the controllers to run).
 *
 * Environment: RIG_APISERVER_PORT, RIG_ETCD_PORT, RIG_ETCD_PEER_PORT (default: free ports),
 * RIG_AUDIT_REQUEST_RESPONSE (comma-separated `resource` or `group/resource`, default
 * `configmaps,apps/deployments`), RIG_FEATURE_GATES (default: the gates the published spec is built with).
 * @throws Error with the tail of the failing component's log when it does not become ready.
 */
export async function startRig(
  owner: RigState["owner"] = "cli",
  log: (line: string) => void = console.log,
): Promise<StartResult> {
  return withRigLock(async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await startRigLocked(owner, log);
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

/** Tokens of one start: the rig's users and kube-controller-manager's own identity. */
interface RigTokens {
  users: Record<RigTokenUser, string>;
  controllerManager: string;
}

/**
 * A fresh cluster's files: certificates, the token file, the kubeconfigs and the audit policy. Tests must
 * not depend on leftovers, so the previous etcd data, PKI and logs are removed first.
 */
function writeRigFiles(layout: RigLayout, server: string, auditRequestResponse: string[]): RigTokens {
  mkdirSync(layout.dir, { recursive: true, mode: 0o700 });
  rmSync(layout.etcdData, { recursive: true, force: true });
  rmSync(layout.pki.dir, { recursive: true, force: true });
  for (const file of [...Object.values(layout.logs), layout.auditLog]) rmSync(file, { force: true });

  const pki = generateRigPki(layout.pki, SERVICE_IP);
  const caData = pemData(pki.caCert);
  const newToken = () => randomBytes(24).toString("hex");
  const tokens: RigTokens = {
    users: Object.fromEntries(RIG_TOKEN_USERS.map((u) => [u, newToken()])) as Record<RigTokenUser, string>,
    controllerManager: newToken(),
  };
  writeSecret(
    layout.tokensFile,
    tokensCsv([
      ...RIG_TOKEN_USERS.map((user) => ({ token: tokens.users[user], user, groups: ["system:masters"] })),
      // Its own identity so its traffic is easy to filter out of the audit log.
      { token: tokens.controllerManager, user: "kube-controller-manager", groups: ["system:masters"] },
    ]),
  );
  for (const user of RIG_TOKEN_USERS) {
    writeSecret(layout.kubeconfigs[user], kubeconfig(server, caData, user, { token: tokens.users[user] }));
  }
  writeSecret(
    layout.kubeconfigs["admin-cert"],
    kubeconfig(server, caData, "admin-cert", {
      clientCertificateData: pemData(pki.adminCert),
      clientKeyData: pemData(pki.adminKey),
    }),
  );
  writeSecret(
    layout.controllerManagerKubeconfig,
    kubeconfig(server, caData, "kube-controller-manager", { token: tokens.controllerManager }),
  );
  writeFileSync(layout.auditPolicy, auditPolicy(auditRequestResponse));
  return tokens;
}

async function startRigLocked(owner: RigState["owner"], log: (line: string) => void): Promise<StartResult> {
  const layout = rigLayout(rigDir());
  if (await isRigUp()) {
    const state = rigStatus().state as RigState;
    // rig:up adopts a rig a test run started, so that run's teardown leaves it up.
    if (owner === "cli" && state.owner !== "cli") {
      state.owner = "cli";
      writeState(layout, state);
    }
    return { state, started: false, startMs: 0 };
  }
  // Anything left from a half-dead rig is stopped before starting afresh.
  await stopRigLocked();

  const binDir = ensureKubeBinaries();
  const ports: RigPorts = {
    apiserver: await freePort(process.env.RIG_APISERVER_PORT),
    etcd: await freePort(process.env.RIG_ETCD_PORT),
    etcdPeer: await freePort(process.env.RIG_ETCD_PEER_PORT),
  };
  const server = `https://127.0.0.1:${ports.apiserver}`;
  const auditRequestResponse = parseAuditRequestResponse(
    process.env.RIG_AUDIT_REQUEST_RESPONSE ?? DEFAULT_AUDIT_REQUEST_RESPONSE,
  );
  const tokens = writeRigFiles(layout, server, auditRequestResponse);

  const started = Date.now();
  const spawn = (component: RigComponent, args: string[]) =>
    spawnDetached(join(binDir, RIG_BINARY[component]), args, layout.logs[component], layout.dir).pid ?? 0;
  const state: RigState = {
    kubeVersion: kubeVersions().kube,
    server,
    ports,
    pids: {
      etcd: spawn("etcd", etcdArgs(layout, ports)),
      apiserver: spawn(
        "apiserver",
        apiserverArgs(layout, {
          ports,
          address: "127.0.0.1",
          featureGates: process.env.RIG_FEATURE_GATES ?? DEFAULT_FEATURE_GATES,
        }),
      ),
    },
    kubeconfigs: layout.kubeconfigs,
    tokensFile: layout.tokensFile,
    caFile: layout.pki.caCert,
    auditLog: layout.auditLog,
    auditRequestResponse,
    binDir,
    startedAt: new Date().toISOString(),
    owner,
  };
  // Written before waiting so that rig:down can clean up a rig that never became ready.
  writeState(layout, state);
  log(
    `rig: etcd pid ${state.pids.etcd} on ${etcdUrls(ports).client}, kube-apiserver pid ${state.pids.apiserver} on ${server}`,
  );

  await waitReady(state, tokens.users.admin, layout);

  if (process.env.RIG_KCM !== "0" && existsSync(join(binDir, RIG_BINARY.controllerManager))) {
    state.pids.controllerManager = spawn("controllerManager", controllerManagerArgs(layout));
    writeState(layout, state);
    log(`rig: kube-controller-manager pid ${state.pids.controllerManager}`);
    await waitControllers(state, tokens.users.admin, layout);
  }
  return { state, started: true, startMs: Date.now() - started };
}

/** Stops what was started and throws naming the component whose process died, with its log's tail. */
async function failExited(component: RigComponent, layout: RigLayout): Promise<never> {
  await stopRigLocked();
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
      await failExited("controllerManager", layout);
    }
    const { status } = await apiserverGet(state, token, "/api/v1/namespaces/default/serviceaccounts/default");
    if (status === 200) return;
    await sleep(250);
  }
  await stopRigLocked();
  throw new Error(
    `rig: kube-controller-manager did not create default/default within ${READY_TIMEOUT_MS / 1000}s`,
  );
}

async function waitReady(state: RigState, token: string, layout: RigLayout): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = "";
  while (Date.now() < deadline) {
    for (const component of ["etcd", "apiserver"] as const) {
      if (!isRigProcess(state.pids[component], component, state.binDir)) await failExited(component, layout);
    }
    const { status, body } = await apiserverGet(state, token, "/readyz");
    if (status === 200 && body.trim() === "ok") return;
    last = `${status} ${body.slice(0, 300)}`;
    await sleep(250);
  }
  await stopRigLocked();
  throw new Error(
    `rig: kube-apiserver not ready after ${READY_TIMEOUT_MS / 1000}s (last /readyz: ${last}); last lines of the log:\n${tail(layout.logs.apiserver)}`,
  );
}
