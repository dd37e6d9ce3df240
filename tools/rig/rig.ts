/**
 * The test rig's public surface: where its files live and how to read what `rig:up` started.
 * Tests import this module only; starting and stopping live in lifecycle.ts.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tokenOf } from "./config";
import { rigDirFromEnv } from "./env";
import { type RigComponent, rigLayout } from "./layout";
import type { NodeNetwork } from "./node/config";

/** Identities in the rig's static token file. All are in `system:masters`; they differ so audit events can be filtered by who sent them. */
export const RIG_TOKEN_USERS = ["admin", "workload", "e2e"] as const;
export type RigTokenUser = (typeof RIG_TOKEN_USERS)[number];
/** A kubeconfig user: a token identity, or `admin-cert` (client certificate CN=admin-cert, O=system:masters). */
export type RigUser = RigTokenUser | "admin-cert";

/** What `rig:up` writes to `.rig/state.json`. */
export interface RigState {
  /** Kubernetes version the binaries were built from, e.g. `v1.34.4`. */
  kubeVersion: string;
  /** `https://127.0.0.1:<port>` */
  server: string;
  ports: { apiserver: number; etcd: number; etcdPeer: number };
  /** PIDs of the processes rig:up started (each the leader of its own process group). */
  pids: Partial<Record<RigComponent, number>> & { etcd: number; apiserver: number };
  /** Present when the rig runs a node (kubelet, containerd, kube-scheduler, kube-proxy, CoreDNS). */
  node?: RigNodeState;
  kubeconfigs: Record<RigUser, string>;
  tokensFile: string;
  caFile: string;
  auditLog: string;
  /** `group/resource` pairs logged at RequestResponse level (core group written as bare resource). */
  auditRequestResponse: string[];
  binDir: string;
  startedAt: string;
  /** Who started it: `cli` (rig:up; only rig:down stops it) or `global-setup` (the last test run out stops it). */
  owner: "cli" | "global-setup";
}

/** What a node rig adds to the state: where the node is and how to reach its runtime. */
export interface RigNodeState {
  /** The Node object's name. */
  name: string;
  /** The network namespace the cluster runs in, its link to the host, its addresses and cgroup. */
  network: NodeNetwork;
  /** containerd's socket (for `ctr --address`); its images are in the `k8s.io` namespace. */
  containerdSocket: string;
  /** The node's mount namespace (`mnt:[…]`), shared by containerd, kubelet, kube-proxy and the shims. */
  mountNamespace?: string;
  /** A directory for hostPath volumes (the rig's PersistentVolumes), removed with the rig. */
  volumesDir: string;
  /** The host's iptables chains named KUBE-/CNI- before the node started (normally none). */
  hostChainsBefore: string[];
}

/** The repository root (two levels above this file). */
export const repoRoot: string = fileURLToPath(new URL("../..", import.meta.url));

/** The rig's working directory: `RIG_DIR` or `<repo>/.rig` (git-ignored). */
export function rigDir(): string {
  return rigDirFromEnv() ?? join(repoRoot, ".rig");
}

/** Path of the state file `rig:up` writes and `rig:down` consumes. */
export function rigStatePath(): string {
  return rigLayout(rigDir()).state;
}

/**
 * Reads `.rig/state.json`.
 * @throws Error naming the command to run when the rig has not been started.
 */
export function readRigState(): RigState {
  const path = rigStatePath();
  if (!existsSync(path)) {
    throw new Error(`the kube rig is not up (no ${path}); start it with \`npm run rig:up\``);
  }
  return JSON.parse(readFileSync(path, "utf8")) as RigState;
}

/** Path of the kubeconfig for `user`, e.g. `.rig/kubeconfig` for `admin`, `.rig/kubeconfig-workload`. */
export function rigKubeconfigPath(user: RigUser = "admin"): string {
  return rigLayout(rigDir()).kubeconfigs[user];
}

/** The bearer token of a token user, read from the rig's token file (`token,user,uid,"groups"` lines). */
export function rigToken(user: RigTokenUser): string {
  const token = tokenOf(readFileSync(readRigState().tokensFile, "utf8"), user);
  if (!token) throw new Error(`no token for user ${user} in the rig's token file`);
  return token;
}

/**
 * The address at which the rig's kube-apiserver reaches this host: where a server a test runs for it (an
 * admission webhook) must listen. 127.0.0.1 for an API-only rig; for a rig with a node, whose cluster runs
 * in its own network namespace, the host's end of the node's link.
 */
export function rigHostAddress(state: RigState = readRigState()): string {
  return state.node?.network.hostAddress ?? "127.0.0.1";
}
