import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import { tokenOf, tokensCsv } from "./config";
import { rigLayout } from "./layout";
import { NODE_NAME, nodeNetwork } from "./node/config";
import {
  initialRigState,
  NODE_NAMESPACE_PORTS,
  newRigTokens,
  presetPorts,
  rigKubeconfigFiles,
  rigTokenEntries,
  runningRigAction,
} from "./start-plan";

const layout = rigLayout("/rig");
const counter = () => {
  let n = 0;
  return () => `token-${++n}`;
};

describe("tokens and the token file", () => {
  it("gives every identity its own token and puts each in the token file once", () => {
    const tokens = newRigTokens(counter());
    const entries = rigTokenEntries(tokens);
    const all = entries.map((entry) => entry.token);
    expect(new Set(all).size).toBe(all.length);
    expect(entries.map((entry) => entry.user)).toEqual([
      "admin",
      "workload",
      "e2e",
      "kube-controller-manager",
      `system:node:${NODE_NAME}`,
      "system:kube-scheduler",
      "system:kube-proxy",
    ]);
    const text = tokensCsv(entries);
    expect(tokenOf(text, "workload")).toBe(tokens.users.workload);
    expect(tokenOf(text, `system:node:${NODE_NAME}`)).toBe(tokens.node.kubelet);
  });

  it("makes the rig's users and kube-controller-manager masters, the kubelet a node", () => {
    const entries = rigTokenEntries(newRigTokens(counter()));
    const groups = new Map(entries.map((entry) => [entry.user, entry.groups]));
    expect(groups.get("admin")).toEqual(["system:masters"]);
    expect(groups.get("kube-controller-manager")).toEqual(["system:masters"]);
    expect(groups.get(`system:node:${NODE_NAME}`)).toEqual(["system:nodes"]);
    expect(groups.get("system:kube-scheduler")).toEqual([]);
  });
});

describe("the control plane's kubeconfigs", () => {
  it("writes one file per user of the layout, each with its own credentials and the server", () => {
    const tokens = newRigTokens(counter());
    const files = rigKubeconfigFiles(layout, "https://127.0.0.1:6443", "Q0E=", tokens, {
      certificate: "Y2VydA==",
      key: "a2V5",
    });
    expect(files.map((file) => file.path).sort()).toEqual(
      [...Object.values(layout.kubeconfigs), layout.controllerManagerKubeconfig].sort(),
    );
    const user = (path: string) => {
      const config = load(files.find((file) => file.path === path)?.content ?? "") as {
        clusters: Array<{ cluster: { server: string } }>;
        users: Array<{ name: string; user: Record<string, string> }>;
      };
      expect(config.clusters[0]?.cluster.server).toBe("https://127.0.0.1:6443");
      return config.users[0];
    };
    expect(user(layout.kubeconfigs.e2e)).toEqual({ name: "e2e", user: { token: tokens.users.e2e } });
    expect(user(layout.controllerManagerKubeconfig)?.user).toEqual({ token: tokens.controllerManager });
    expect(user(layout.kubeconfigs["admin-cert"])?.user).toEqual({
      "client-certificate-data": "Y2VydA==",
      "client-key-data": "a2V5",
    });
  });
});

describe("presetPorts", () => {
  it("leaves an API-only rig's ports to be picked free, unless the environment gives them", () => {
    expect(presetPorts({}, false)).toEqual({ apiserver: undefined, etcd: undefined, etcdPeer: undefined });
    expect(presetPorts({ etcd: 12379 }, false)).toEqual({
      apiserver: undefined,
      etcd: 12379,
      etcdPeer: undefined,
    });
  });

  it("gives a node's namespace the usual ports, the environment's first", () => {
    expect(presetPorts({}, true)).toEqual(NODE_NAMESPACE_PORTS);
    expect(NODE_NAMESPACE_PORTS).toEqual({ apiserver: 6443, etcd: 2379, etcdPeer: 2380 });
    expect(presetPorts({ apiserver: 16443 }, true)).toEqual({ apiserver: 16443, etcd: 2379, etcdPeer: 2380 });
  });
});

describe("initialRigState", () => {
  const facts = {
    layout,
    server: "https://127.0.0.1:6443",
    ports: { apiserver: 6443, etcd: 2379, etcdPeer: 2380 },
    binDir: "/bin/kube",
    kubeVersion: "v1.34.4",
    owner: "cli" as const,
    auditRequestResponse: ["configmaps"],
    startedAt: new Date("2026-12-06T08:00:00Z"),
  };

  it("records where the rig's files are, no process yet, and no node for an API-only rig", () => {
    const state = initialRigState(facts);
    expect(state).toMatchObject({
      server: facts.server,
      pids: { etcd: 0, apiserver: 0 },
      kubeconfigs: layout.kubeconfigs,
      tokensFile: "/rig/tokens.csv",
      caFile: "/rig/pki/ca.crt",
      auditLog: "/rig/audit.log",
      startedAt: "2026-12-06T08:00:00.000Z",
    });
    expect(state.node).toBeUndefined();
  });

  it("records the node's network, runtime socket and the host's chains before it", () => {
    const network = nodeNetwork("0123abcd");
    const state = initialRigState({ ...facts, node: { network, hostChainsBefore: ["KUBE-X"] } });
    expect(state.node).toMatchObject({ name: NODE_NAME, network, hostChainsBefore: ["KUBE-X"] });
    expect(state.node?.containerdSocket.startsWith("/rig/")).toBe(true);
    expect(state.node?.volumesDir.startsWith("/rig/")).toBe(true);
  });
});

describe("runningRigAction", () => {
  const apiOnly = (owner: "cli" | "global-setup") => ({
    owner,
    server: "https://127.0.0.1:1",
    node: undefined,
  });
  const never = () => {
    throw new Error("not asked");
  };

  it("uses a rig that has what is wanted, and rig:up adopts one a test run started", () => {
    expect(runningRigAction(apiOnly("global-setup"), "global-setup", false, never)).toEqual({
      action: "use",
    });
    expect(runningRigAction(apiOnly("cli"), "cli", false, never)).toEqual({ action: "use" });
    expect(runningRigAction(apiOnly("global-setup"), "cli", false, never)).toEqual({ action: "adopt" });
  });

  it("restarts an API-only test-run rig with a node when no other run uses it", () => {
    expect(runningRigAction(apiOnly("global-setup"), "global-setup", true, () => false)).toEqual({
      action: "restart",
    });
  });

  it("refuses to restart rig:up's rig or one another test run uses, saying why", () => {
    const ofCli = runningRigAction(apiOnly("cli"), "global-setup", true, never);
    expect(ofCli).toMatchObject({ action: "refuse" });
    expect(ofCli.action === "refuse" && ofCli.message).toContain("started by rig:up");
    const used = runningRigAction(apiOnly("global-setup"), "global-setup", true, () => true);
    expect(used.action === "refuse" && used.message).toContain("used by another test run");
  });
});
