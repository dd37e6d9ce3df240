/**
 * What one rig start writes and records, as data: its tokens and the token file's lines, the kubeconfigs,
 * the ports it takes, the state file's first content, and what to do with a rig that is already up. Pure
 * functions of their inputs (randomness, free ports and the host's iptables are passed in), unit-tested in
 * start-plan.test.ts; lifecycle.ts writes the files and runs the processes.
 */
import { kubeconfig, type RigPorts, type TokenEntry } from "./config";
import type { RigLayout } from "./layout";
import {
  NODE_APISERVER_PORT,
  NODE_NAME,
  NODE_TOKEN_USERS,
  type NodeNetwork,
  type NodeTokenUser,
  nodeLayout,
} from "./node/config";
import { RIG_TOKEN_USERS, type RigState, type RigTokenUser } from "./rig";

/** Tokens of one start: the rig's users, kube-controller-manager's and the node's processes' identities. */
export interface RigTokens {
  users: Record<RigTokenUser, string>;
  controllerManager: string;
  node: Record<NodeTokenUser, string>;
}

/** A fresh set of tokens, each from `newToken` (called once per identity). */
export function newRigTokens(newToken: () => string): RigTokens {
  return {
    users: Object.fromEntries(RIG_TOKEN_USERS.map((user) => [user, newToken()])) as Record<
      RigTokenUser,
      string
    >,
    controllerManager: newToken(),
    node: { kubelet: newToken(), scheduler: newToken(), kubeProxy: newToken() },
  };
}

/** The lines of kube-apiserver's token file for `tokens`. */
export function rigTokenEntries(tokens: RigTokens): TokenEntry[] {
  return [
    ...RIG_TOKEN_USERS.map((user) => ({ token: tokens.users[user], user, groups: ["system:masters"] })),
    // Its own identity so its traffic is easy to filter out of the audit log.
    { token: tokens.controllerManager, user: "kube-controller-manager", groups: ["system:masters"] },
    // The node's processes as kubeadm's cluster knows them (Node authorizer, default RBAC bindings).
    ...(Object.keys(NODE_TOKEN_USERS) as NodeTokenUser[]).map((who) => ({
      token: tokens.node[who],
      user: NODE_TOKEN_USERS[who].user,
      groups: [...NODE_TOKEN_USERS[who].groups],
    })),
  ];
}

/** The admin client certificate and key, as base64 PEM. */
export interface AdminCertData {
  certificate: string;
  key: string;
}

/**
 * The control plane's kubeconfigs, path and content: one per token user, `admin-cert` (client
 * certificate) and kube-controller-manager's. The node's processes get theirs from node/lifecycle.ts.
 */
export function rigKubeconfigFiles(
  layout: RigLayout,
  server: string,
  caData: string,
  tokens: RigTokens,
  adminCert: AdminCertData,
): { path: string; content: string }[] {
  return [
    ...RIG_TOKEN_USERS.map((user) => ({
      path: layout.kubeconfigs[user],
      content: kubeconfig(server, caData, user, { token: tokens.users[user] }),
    })),
    {
      path: layout.kubeconfigs["admin-cert"],
      content: kubeconfig(server, caData, "admin-cert", {
        clientCertificateData: adminCert.certificate,
        clientKeyData: adminCert.key,
      }),
    },
    {
      path: layout.controllerManagerKubeconfig,
      content: kubeconfig(server, caData, "kube-controller-manager", { token: tokens.controllerManager }),
    },
  ];
}

/** The ports inside a node's network namespace, which has them to itself: the usual ones. */
export const NODE_NAMESPACE_PORTS: RigPorts = { apiserver: NODE_APISERVER_PORT, etcd: 2379, etcdPeer: 2380 };

/**
 * The ports fixed before start: those the environment gives, else, in a node's namespace, the usual ones.
 * An API-only rig shares 127.0.0.1 with everything else, so what is left undefined is picked free at start.
 */
export function presetPorts(given: Partial<RigPorts>, inNodeNamespace: boolean): Partial<RigPorts> {
  const preset = (name: keyof RigPorts) =>
    given[name] ?? (inNodeNamespace ? NODE_NAMESPACE_PORTS[name] : undefined);
  return { apiserver: preset("apiserver"), etcd: preset("etcd"), etcdPeer: preset("etcdPeer") };
}

/** Everything the state file records about a start before any process runs. */
export interface StartFacts {
  layout: RigLayout;
  server: string;
  ports: RigPorts;
  binDir: string;
  kubeVersion: string;
  owner: RigState["owner"];
  auditRequestResponse: string[];
  startedAt: Date;
  /** With a node: its network, and the host's KUBE-/CNI- iptables chains before it started. */
  node?: { network: NodeNetwork; hostChainsBefore: string[] };
}

/** The state file of a start whose processes have not been spawned yet (every pid 0). */
export function initialRigState(facts: StartFacts): RigState {
  const { layout, node } = facts;
  return {
    kubeVersion: facts.kubeVersion,
    server: facts.server,
    ports: facts.ports,
    pids: { etcd: 0, apiserver: 0 },
    kubeconfigs: layout.kubeconfigs,
    tokensFile: layout.tokensFile,
    caFile: layout.pki.caCert,
    auditLog: layout.auditLog,
    auditRequestResponse: facts.auditRequestResponse,
    binDir: facts.binDir,
    startedAt: facts.startedAt.toISOString(),
    owner: facts.owner,
    ...(node && {
      node: {
        name: NODE_NAME,
        network: node.network,
        containerdSocket: nodeLayout(layout).containerdSocket,
        volumesDir: nodeLayout(layout).volumes,
        hostChainsBefore: node.hostChainsBefore,
      },
    }),
  };
}

/**
 * What a start does with a rig that is already up: `use` it as it is, `adopt` it (rig:up takes over a
 * rig a test run started, so that run's teardown leaves it up), `restart` it with a node, or `refuse`
 * (a node is wanted, and the rig without one is rig:up's or another test run's).
 */
export type RunningRigAction =
  | { action: "use" }
  | { action: "adopt" }
  | { action: "restart" }
  | { action: "refuse"; message: string };

/** Decides {@link RunningRigAction} for `running`, started by `owner` wanting a node or not. */
export function runningRigAction(
  running: Pick<RigState, "owner" | "server" | "node">,
  owner: RigState["owner"],
  wantsNode: boolean,
  usedByOthers: () => boolean,
): RunningRigAction {
  if (!wantsNode || running.node) {
    return owner === "cli" && running.owner !== "cli" ? { action: "adopt" } : { action: "use" };
  }
  if (running.owner === "cli" || usedByOthers()) {
    const who = running.owner === "cli" ? "started by rig:up" : "used by another test run";
    return {
      action: "refuse",
      message: `rig: up without a node at ${running.server} (${who}); stop it (npm run rig:down) and start it with a node (npm run rig:up)`,
    };
  }
  return { action: "restart" };
}
