/**
 * Starts, inspects and stops the rig: etcd + kube-apiserver + kube-controller-manager (when built) on
 * 127.0.0.1, detached from the starting process, logging to `.rig/*.log`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request } from "node:https";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureKubeBinaries, kubeVersions } from "./kube-bin";
import { generateRigPki, pemData } from "./pki";
import {
  RIG_TOKEN_USERS,
  type RigState,
  type RigTokenUser,
  type RigUser,
  rigDir,
  rigKubeconfigPath,
  rigStatePath,
} from "./rig";

/** Resources logged at RequestResponse level unless RIG_AUDIT_REQUEST_RESPONSE says otherwise. */
const DEFAULT_AUDIT_REQUEST_RESPONSE = "configmaps,apps/deployments";
/** The published swagger is generated with these (kubernetes hack/update-openapi-spec.sh). */
const DEFAULT_FEATURE_GATES = "AllAlpha=true,AllBeta=true,OpenAPIEnums=false";
const SERVICE_CIDR = "10.0.0.0/24";
const SERVICE_IP = "10.0.0.1";
const READY_TIMEOUT_MS = 180_000;

type Component = keyof RigState["pids"];
/** Stop order: clients of the apiserver first, etcd last. */
const STOP_ORDER: Component[] = ["controllerManager", "apiserver", "etcd"];
const BINARY: Record<Component, string> = {
  etcd: "etcd",
  apiserver: "kube-apiserver",
  controllerManager: "kube-controller-manager",
};

/** Result of {@link startRig}. */
export interface StartResult {
  state: RigState;
  /** False when the rig was already up and nothing was started. */
  started: boolean;
  /** Milliseconds from spawning etcd to kube-apiserver's /readyz answering ok. */
  startMs: number;
}

/** A port the kernel considers free on 127.0.0.1 right now (or `fromEnv` when set). */
async function freePort(fromEnv: string | undefined): Promise<number> {
  if (fromEnv) return Number(fromEnv);
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** True when `pid` is alive and is the rig binary we started (guards against a recycled PID). */
export function isRigProcess(pid: number | undefined, component: Component, binDir: string): boolean {
  if (!pid) return false;
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const zombie = / Z /.test(stat.slice(stat.lastIndexOf(")")));
    return !zombie && argv0 === join(binDir, BINARY[component]);
  } catch {
    return false;
  }
}

/** Signals a process group (each rig process leads its own); a process that is already gone is fine. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs `fn` holding `.rig/lock`, so concurrent `rig:up`, `rig:down` and vitest runs sharing one checkout
 * never start two rigs or stop one half-way through another's start. A lock whose holder died is taken over.
 */
async function withRigLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(rigDir(), { recursive: true, mode: 0o700 });
  const lock = join(rigDir(), "lock");
  // Generous: the holder may be running a cold build.
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: "wx" });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number(readFileSync(lock, "utf8").trim() || "0");
      if (!holder || !pidAlive(holder)) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`rig: ${lock} held by pid ${holder} for too long`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function clientsDir(): string {
  return join(rigDir(), "clients");
}

/** Records that process `pid` (a vitest run) uses the rig, so another run's teardown leaves it up. */
function registerRigClient(pid: number = process.pid): void {
  mkdirSync(clientsDir(), { recursive: true });
  writeFileSync(join(clientsDir(), String(pid)), "");
}

/** Removes `pid`'s client record; returns the PIDs of other live clients. */
export function unregisterRigClient(pid: number = process.pid): number[] {
  rmSync(join(clientsDir(), String(pid)), { force: true });
  if (!existsSync(clientsDir())) return [];
  const others: number[] = [];
  for (const name of readdirSync(clientsDir())) {
    const other = Number(name);
    if (pidAlive(other)) others.push(other);
    else rmSync(join(clientsDir(), name), { force: true });
  }
  return others;
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

/** GET `path` on the rig's apiserver with the admin token; resolves with status and body, never rejects. */
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
  const line = readFileSync(tokensFile, "utf8")
    .split("\n")
    .find((l) => l.split(",")[1] === user);
  return line?.split(",")[0] ?? "";
}

function tail(path: string, lines = 25): string {
  if (!existsSync(path)) return `(no ${path})`;
  return readFileSync(path, "utf8").split("\n").slice(-lines).join("\n");
}

/** Processes of the current state file and whether each runs. */
export function rigStatus(): { state: RigState | null; running: Partial<Record<Component, boolean>> } {
  if (!existsSync(rigStatePath())) return { state: null, running: {} };
  const state = JSON.parse(readFileSync(rigStatePath(), "utf8")) as RigState;
  const running: Partial<Record<Component, boolean>> = {};
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
export async function stopRig(): Promise<Component[]> {
  return withRigLock(stopRigLocked);
}

async function stopRigLocked(): Promise<Component[]> {
  const { state, running } = rigStatus();
  if (!state) return [];
  const stopped: Component[] = [];
  for (const component of STOP_ORDER) {
    const pid = state.pids[component];
    if (!pid || !running[component]) continue;
    signalGroup(pid, "SIGTERM");
    const deadline = Date.now() + 15_000;
    while (isRigProcess(pid, component, state.binDir) && Date.now() < deadline) await sleep(100);
    if (isRigProcess(pid, component, state.binDir)) {
      signalGroup(pid, "SIGKILL");
      while (isRigProcess(pid, component, state.binDir)) await sleep(50);
    }
    stopped.push(component);
  }
  rmSync(rigStatePath(), { force: true });
  return stopped;
}

/** `configmaps,apps/deployments` -> audit policy resource rules grouped by API group. */
function auditPolicy(requestResponse: string[]): string {
  const byGroup = new Map<string, string[]>();
  for (const entry of requestResponse) {
    const [group, resource] = entry.includes("/") ? (entry.split("/", 2) as [string, string]) : ["", entry];
    byGroup.set(group === "core" ? "" : group, [...(byGroup.get(group) ?? []), resource]);
  }
  const resources = [...byGroup]
    .map(
      ([group, names]) =>
        `      - group: "${group}"\n        resources: [${names.map((n) => `"${n}"`).join(", ")}]`,
    )
    .join("\n");
  return [
    "apiVersion: audit.k8s.io/v1",
    "kind: Policy",
    // RequestReceived adds a second event per request with nothing the later stages lack.
    "omitStages: [RequestReceived]",
    "rules:",
    ...(requestResponse.length > 0 ? ["  - level: RequestResponse", "    resources:", resources] : []),
    "  - level: Metadata",
    "",
  ].join("\n");
}

function kubeconfig(server: string, caFile: string, user: string, credentials: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "  - name: apisnoop-rig",
    "    cluster:",
    `      server: ${server}`,
    `      certificate-authority-data: ${pemData(caFile)}`,
    "users:",
    `  - name: ${user}`,
    "    user:",
    credentials,
    "contexts:",
    `  - name: ${user}@apisnoop-rig`,
    "    context:",
    "      cluster: apisnoop-rig",
    `      user: ${user}`,
    `current-context: ${user}@apisnoop-rig`,
    "",
  ].join("\n");
}

function writeSecret(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600); // the mode option does not apply when the file already exists
}

function spawnDetached(binary: string, args: string[], logFile: string): ChildProcess {
  const log = openSync(logFile, "a");
  // detached: own session and process group, so the rig outlives `npm run rig:up` and dies as a group.
  const child = spawn(binary, args, { detached: true, stdio: ["ignore", log, log], cwd: rigDir() });
  child.unref();
  return child;
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

async function startRigLocked(owner: RigState["owner"], log: (line: string) => void): Promise<StartResult> {
  if (await isRigUp()) {
    const state = rigStatus().state as RigState;
    // rig:up adopts a rig a test run started, so that run's teardown leaves it up.
    if (owner === "cli" && state.owner !== "cli") {
      state.owner = "cli";
      writeSecret(rigStatePath(), `${JSON.stringify(state, null, 2)}\n`);
    }
    return { state, started: false, startMs: 0 };
  }
  // Anything left from a half-dead rig is stopped before starting afresh.
  await stopRigLocked();

  const binDir = ensureKubeBinaries();
  const dir = rigDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A fresh cluster every start: tests must not depend on leftovers.
  rmSync(join(dir, "etcd-data"), { recursive: true, force: true });
  rmSync(join(dir, "pki"), { recursive: true, force: true });
  for (const name of ["etcd.log", "kube-apiserver.log", "kube-controller-manager.log", "audit.log"]) {
    rmSync(join(dir, name), { force: true });
  }

  const pki = generateRigPki(join(dir, "pki"), SERVICE_IP);
  const ports = {
    apiserver: await freePort(process.env.RIG_APISERVER_PORT),
    etcd: await freePort(process.env.RIG_ETCD_PORT),
    etcdPeer: await freePort(process.env.RIG_ETCD_PEER_PORT),
  };
  const server = `https://127.0.0.1:${ports.apiserver}`;

  const tokens = Object.fromEntries(
    RIG_TOKEN_USERS.map((u) => [u, randomBytes(24).toString("hex")]),
  ) as Record<RigTokenUser, string>;
  const controllerToken = randomBytes(24).toString("hex");
  const tokensFile = join(dir, "tokens.csv");
  writeSecret(
    tokensFile,
    [
      ...RIG_TOKEN_USERS.map((user) => `${tokens[user]},${user},${user},"system:masters"`),
      // Its own identity so its traffic is easy to filter out of the audit log.
      `${controllerToken},kube-controller-manager,kube-controller-manager,"system:masters"`,
      "",
    ].join("\n"),
  );
  const tokenCreds = (token: string) => `      token: ${token}`;
  const kubeconfigs = {} as Record<RigUser, string>;
  for (const user of RIG_TOKEN_USERS) {
    kubeconfigs[user] = rigKubeconfigPath(user);
    writeSecret(kubeconfigs[user], kubeconfig(server, pki.caCert, user, tokenCreds(tokens[user])));
  }
  kubeconfigs["admin-cert"] = rigKubeconfigPath("admin-cert");
  writeSecret(
    kubeconfigs["admin-cert"],
    kubeconfig(
      server,
      pki.caCert,
      "admin-cert",
      `      client-certificate-data: ${pemData(pki.adminCert)}\n      client-key-data: ${pemData(pki.adminKey)}`,
    ),
  );
  const controllerKubeconfig = join(dir, "kubeconfig-controller-manager");
  writeSecret(
    controllerKubeconfig,
    kubeconfig(server, pki.caCert, "kube-controller-manager", tokenCreds(controllerToken)),
  );

  const auditRequestResponse = (process.env.RIG_AUDIT_REQUEST_RESPONSE ?? DEFAULT_AUDIT_REQUEST_RESPONSE)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const auditPolicyFile = join(dir, "audit-policy.yaml");
  writeFileSync(auditPolicyFile, auditPolicy(auditRequestResponse));
  const auditLog = join(dir, "audit.log");

  const started = Date.now();
  const etcdUrl = `http://127.0.0.1:${ports.etcd}`;
  const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
  const etcd = spawnDetached(
    join(binDir, "etcd"),
    [
      "--name=rig",
      `--data-dir=${join(dir, "etcd-data")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=rig=${peerUrl}`,
      "--log-level=warn",
      // Test data only: skip fsync so a 2-core CI machine is not bottlenecked on disk.
      "--unsafe-no-fsync",
    ],
    join(dir, "etcd.log"),
  );

  const apiserverArgs = [
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${ports.apiserver}`,
    `--etcd-servers=${etcdUrl}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--token-auth-file=${tokensFile}`,
    "--authorization-mode=RBAC",
    `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    // No kubelet runs here, and the loopback advertise address is not a valid Endpoints IP.
    "--endpoint-reconciler-type=none",
    "--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
    // Serve every group/version and gate, like the published spec (hack/update-openapi-spec.sh).
    "--runtime-config=api/all=true",
    `--feature-gates=${process.env.RIG_FEATURE_GATES ?? DEFAULT_FEATURE_GATES}`,
    "--enable-logs-handler=true",
    `--audit-policy-file=${auditPolicyFile}`,
    `--audit-log-path=${auditLog}`,
    "--audit-log-format=json",
    "--audit-log-version=audit.k8s.io/v1",
    "--audit-log-maxsize=0",
    "--profiling=false",
    "--v=1",
  ];
  const apiserver = spawnDetached(
    join(binDir, "kube-apiserver"),
    apiserverArgs,
    join(dir, "kube-apiserver.log"),
  );

  const state: RigState = {
    kubeVersion: kubeVersions().kube,
    server,
    ports,
    pids: { etcd: etcd.pid ?? 0, apiserver: apiserver.pid ?? 0 },
    kubeconfigs,
    tokensFile,
    caFile: pki.caCert,
    auditLog,
    auditRequestResponse,
    binDir,
    startedAt: new Date().toISOString(),
    owner,
  };
  // Written before waiting so that rig:down can clean up a rig that never became ready.
  writeSecret(rigStatePath(), `${JSON.stringify(state, null, 2)}\n`);
  log(
    `rig: etcd pid ${state.pids.etcd} on ${etcdUrl}, kube-apiserver pid ${state.pids.apiserver} on ${server}`,
  );

  await waitReady(state, tokens.admin, dir);

  if (process.env.RIG_KCM !== "0" && existsSync(join(binDir, "kube-controller-manager"))) {
    const kcm = spawnDetached(
      join(binDir, "kube-controller-manager"),
      [
        `--kubeconfig=${controllerKubeconfig}`,
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--leader-elect=false",
        "--use-service-account-credentials=false",
        `--service-account-private-key-file=${pki.saKey}`,
        `--root-ca-file=${pki.caCert}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        "--v=1",
      ],
      join(dir, "kube-controller-manager.log"),
    );
    state.pids.controllerManager = kcm.pid ?? 0;
    writeSecret(rigStatePath(), `${JSON.stringify(state, null, 2)}\n`);
    log(`rig: kube-controller-manager pid ${state.pids.controllerManager}`);
    await waitControllers(state, tokens.admin, dir);
  }
  return { state, started: true, startMs: Date.now() - started };
}

/**
 * Waits until kube-controller-manager's controllers run: the service-account controller has created
 * `default/default`. Tests creating pods need that account (the ServiceAccount admission plugin checks it).
 */
async function waitControllers(state: RigState, token: string, dir: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const pid = state.pids.controllerManager;
  while (Date.now() < deadline) {
    if (!isRigProcess(pid, "controllerManager", state.binDir)) {
      const logFile = join(dir, "kube-controller-manager.log");
      await stopRigLocked();
      throw new Error(
        `rig: kube-controller-manager exited during start; last lines of ${logFile}:\n${tail(logFile)}`,
      );
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

async function waitReady(state: RigState, token: string, dir: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = "";
  while (Date.now() < deadline) {
    for (const component of ["etcd", "apiserver"] as const) {
      if (!isRigProcess(state.pids[component], component, state.binDir)) {
        const logFile = join(dir, component === "etcd" ? "etcd.log" : "kube-apiserver.log");
        await stopRigLocked();
        throw new Error(
          `rig: ${BINARY[component]} exited during start; last lines of ${logFile}:\n${tail(logFile)}`,
        );
      }
    }
    const { status, body } = await apiserverGet(state, token, "/readyz");
    if (status === 200 && body.trim() === "ok") return;
    last = `${status} ${body.slice(0, 300)}`;
    await sleep(250);
  }
  await stopRigLocked();
  throw new Error(
    `rig: kube-apiserver not ready after ${READY_TIMEOUT_MS / 1000}s (last /readyz: ${last}); last lines of the log:\n${tail(join(dir, "kube-apiserver.log"))}`,
  );
}
