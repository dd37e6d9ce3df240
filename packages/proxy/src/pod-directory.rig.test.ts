/**
 * Pod attribution against the rig: identities derived from real pod objects (a `helm install`ed chart whose
 * Deployment's ReplicaSet made the pod, and hand-made pods), and a PodDirectory following pods as they get,
 * change and lose IPs, and recovering after its connection to the apiserver is cut. No kubelet runs, so the
 * tests write `status.podIP(s)` through the pods/status subresource, as a kubelet would.
 */
import { spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeBinDir } from "../../../tools/rig/kube-bin";
import { readRigState, rigKubeconfigPath, rigToken } from "../../../tools/rig/rig";
import { UNSCHEDULED, uniqueNamespace, until } from "../../../tools/rig/test-objects";
import { PodDirectory, type PodIdentity, podIdentity } from "./pod-directory";

const namespace = uniqueNamespace("pod-directory");
const kubeconfig = rigKubeconfigPath("admin");
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const api = kc.makeApiClient(CoreV1Api);
/** A /16 of this run's own, so pods of other test runs in the shared rig never collide. */
const net16 = `10.${randomInt(64, 250)}.${randomInt(0, 250)}`;
const workDir = mkdtempSync(path.join(tmpdir(), "pod-directory-"));

/** Sets a pod's IPs through pods/status, as the kubelet does; the first IP is `status.podIP`. */
async function setPodIPs(name: string, ips: string[]): Promise<V1Pod> {
  const pod = await api.readNamespacedPodStatus({ name, namespace });
  pod.status = { ...pod.status, podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) };
  return api.replaceNamespacedPodStatus({ name, namespace, body: pod });
}

/** Creates a pod, retrying while the namespace's `default` ServiceAccount is not made yet. */
async function createPod(
  name: string,
  extra: { labels?: Record<string, string>; hostNetwork?: boolean } = {},
) {
  const body: V1Pod = {
    metadata: { name, labels: extra.labels },
    spec: {
      hostNetwork: extra.hostNetwork,
      schedulerName: UNSCHEDULED,
      containers: [{ name: "pause", image: "registry.k8s.io/pause:3.10" }],
    },
  };
  return until(`pod ${name} created`, () =>
    api.createNamespacedPod({ namespace, body }).catch((error) => {
      if (String(error).includes("serviceaccount")) return null;
      throw error;
    }),
  );
}

function helm(args: string[]): string {
  const result = spawnSync(path.join(kubeBinDir(), "helm"), args, { cwd: workDir, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`helm ${args[0]} failed: ${result.stderr}`);
  return result.stdout;
}

beforeAll(async () => {
  await api.createNamespace({ body: { metadata: { name: namespace } } });
  // The chart `helm create` scaffolds: a Deployment with the recommended Helm labels on its pod template
  // and a ServiceAccount of its own. The ReplicaSet controller of the rig makes the pod.
  helm(["create", "demo"]);
  // Its pod stays unscheduled (the scaffold has no value for that), so the IP this test writes stays.
  const template = path.join(workDir, "demo", "templates", "deployment.yaml");
  const scaffold = readFileSync(template, "utf8");
  if (!/^ {4}spec:$/m.test(scaffold)) throw new Error(`${template}: no pod template spec to extend`);
  writeFileSync(template, scaffold.replace(/^ {4}spec:$/m, `    spec:\n      schedulerName: ${UNSCHEDULED}`));
  helm([
    "install",
    "rel",
    "./demo",
    "-n",
    namespace,
    "--kubeconfig",
    kubeconfig,
    "--set",
    "podAnnotations.apisnoop\\.io/source=demo-source",
    "--set",
    "podAnnotations.apisnoop\\.io/run=ci-42",
  ]);
  await createPod("plain");
  await createPod("host", { hostNetwork: true });
  await createPod("legacy", { labels: { chart: "old-1.0.0", release: "old", heritage: "Helm" } });
  await createPod("not-helm", { labels: { release: "stable" } });
  const helmPod = await until("the chart's pod", async () => {
    const pods = await api.listNamespacedPod({ namespace, labelSelector: "app.kubernetes.io/instance=rel" });
    return pods.items[0]?.metadata?.name;
  });
  await setPodIPs(helmPod, [`${net16}.1`]);
  await setPodIPs("plain", [`${net16}.2`, `fd00:${net16.split(".").join(":")}::2`]);
  // A hostNetwork pod's IP is its node's.
  await setPodIPs("host", ["192.0.2.10"]);
  await setPodIPs("legacy", [`${net16}.3`]);
  await setPodIPs("not-helm", [`${net16}.4`]);
}, 120_000);

afterAll(async () => {
  await api.deleteNamespace({ name: namespace }).catch(() => undefined);
  rmSync(workDir, { recursive: true, force: true });
});

describe("podIdentity of real pods", () => {
  let identities: Map<string, PodIdentity>;
  beforeAll(async () => {
    const pods = await api.listNamespacedPod({ namespace });
    identities = new Map(pods.items.map((pod) => [pod.metadata?.name ?? "", podIdentity(pod)]));
  });

  it("names the Helm chart, release, service account, source and run annotations and owning ReplicaSet", () => {
    const [name, identity] = [...identities].find(([name]) => name.startsWith("rel-demo-")) ?? [];
    expect(identity).toEqual({
      namespace,
      pod: name,
      serviceAccount: "rel-demo",
      chart: "demo-0.1.0",
      helmRelease: "rel",
      managedBy: "Helm",
      sourceName: "demo-source",
      run: "ci-42",
      owner: expect.stringMatching(/^ReplicaSet\/rel-demo-[a-z0-9]+$/),
    });
  });

  it("leaves unknown parts null and reads Helm 2-era labels only on pods Helm templated", () => {
    const bare = {
      chart: null,
      helmRelease: null,
      managedBy: null,
      sourceName: null,
      run: null,
      owner: null,
    };
    expect(identities.get("plain")).toEqual({ namespace, pod: "plain", serviceAccount: "default", ...bare });
    expect(identities.get("not-helm")).toEqual({
      namespace,
      pod: "not-helm",
      serviceAccount: "default",
      ...bare,
    });
    expect(identities.get("legacy")).toMatchObject({
      chart: "old-1.0.0",
      helmRelease: "old",
      managedBy: "Helm",
    });
  });
});

describe("PodDirectory", () => {
  let directory: PodDirectory;
  const lines: string[] = [];
  beforeAll(async () => {
    directory = await PodDirectory.start({ kubeconfig, log: (line) => lines.push(line) });
  });
  afterAll(() => directory?.stop());

  it("finds pods by IPv4, IPv4-mapped IPv6 and IPv6 address, and never by a host IP", () => {
    expect(directory.lookup(`${net16}.1`)).toMatchObject({ namespace, helmRelease: "rel" });
    expect(directory.lookup(`::ffff:${net16}.1`)).toMatchObject({ namespace, helmRelease: "rel" });
    expect(directory.lookup(`${net16}.2`)).toMatchObject({ pod: "plain" });
    expect(directory.lookup(`FD00:${net16.split(".").join(":")}:0::2`)).toMatchObject({ pod: "plain" });
    expect(directory.lookup("192.0.2.10")).toBeNull();
    expect(directory.lookup(`${net16}.250`)).toBeNull();
  });

  it("follows a pod that appears, changes IP and is deleted", async () => {
    await createPod("mover", { labels: { "app.kubernetes.io/instance": "moving" } });
    await setPodIPs("mover", [`${net16}.10`]);
    await until("the new pod", () => directory.lookup(`${net16}.10`));
    expect(directory.lookup(`${net16}.10`)).toMatchObject({ pod: "mover", helmRelease: "moving" });
    await setPodIPs("mover", [`${net16}.11`]);
    await until("the new IP", () => directory.lookup(`${net16}.11`));
    expect(directory.lookup(`${net16}.10`)).toBeNull();
    await api.deleteNamespacedPod({ name: "mover", namespace, gracePeriodSeconds: 0 });
    await until("the deletion", () => (directory.lookup(`${net16}.11`) ? null : true));
    expect(lines).toEqual([]);
  });
});

describe("PodDirectory when two pods claim one IP", () => {
  let directory: PodDirectory;
  beforeAll(async () => {
    directory = await PodDirectory.start({ kubeconfig });
  });
  afterAll(() => directory?.stop());

  it("answers with the newest claim and falls back to the older pod when the newer one goes", async () => {
    // A terminating pod can still hold its IP in status when the IP is handed to a new pod.
    const shared = `${net16}.30`;
    await createPod("old-holder");
    await setPodIPs("old-holder", [shared]);
    await until("the old holder", () => directory.lookup(shared));
    await createPod("new-holder");
    await setPodIPs("new-holder", [shared]);
    await until("the new holder", () => (directory.lookup(shared)?.pod === "new-holder" ? true : null));
    await api.deleteNamespacedPod({ name: "new-holder", namespace, gracePeriodSeconds: 0 });
    await until("the fallback", () => (directory.lookup(shared)?.pod === "old-holder" ? true : null));
  });
});

describe("PodDirectory.start", () => {
  it("fails with one line naming the status when the first list is refused", async () => {
    const token = rigToken("admin");
    const rejected = path.join(workDir, "kubeconfig-bad-token");
    writeFileSync(rejected, readFileSync(kubeconfig, "utf8").replace(token, "not-a-token"), { mode: 0o600 });
    await expect(PodDirectory.start({ kubeconfig: rejected })).rejects.toThrow(
      /^cannot list pods: HTTP 401$/,
    );
  });
});

describe("PodDirectory when its connection to the apiserver is cut", () => {
  let relay: TcpRelay;
  let directory: PodDirectory;
  const lines: string[] = [];

  beforeAll(async () => {
    const apiserver = new URL(readRigState().server);
    relay = await TcpRelay.start(apiserver.hostname, Number(apiserver.port));
    // The admin kubeconfig pointed at the relay (the rig's serving certificate covers 127.0.0.1).
    const relayed = path.join(workDir, "kubeconfig");
    const text = readFileSync(kubeconfig, "utf8").replace(
      readRigState().server,
      `https://127.0.0.1:${relay.port}`,
    );
    writeFileSync(relayed, text, { mode: 0o600 });
    directory = await PodDirectory.start({
      kubeconfig: relayed,
      log: (line) => lines.push(line),
      retryDelayMs: 200,
    });
  });
  afterAll(async () => {
    directory?.stop();
    await relay?.close();
  });

  it("logs one line per failure without credentials, then catches up on what it missed", async () => {
    expect(directory.lookup(`${net16}.1`)).toMatchObject({ helmRelease: "rel" });
    await relay.close();
    await createPod("while-down");
    await setPodIPs("while-down", [`${net16}.20`]);
    // Two failures: the cut watch, then a restart that finds the port closed.
    await until("two logged failures", () => (lines.length >= 2 ? true : null));
    await relay.listen();
    await until("the pod made while the watch was down", () => directory.lookup(`${net16}.20`));
    await until("the recovery line", () => lines.find((line) => line.includes("again")));
    expect(lines[0]).toMatch(/failed/);
    expect(lines[1]).toMatch(/failed \(.*ECONNREFUSED/);
    const token = rigToken("admin");
    for (const line of lines) {
      expect(line).toMatch(
        /^pod directory: (watching pods failed \(.+\); retrying in \d+ ms; pod attribution is stale until it recovers|watching pods again)$/,
      );
      expect(line).not.toContain(token);
      expect(line.toLowerCase()).not.toContain("authorization");
    }
  });
});

/** A TCP relay to the apiserver that can be cut (every connection destroyed, port closed) and restored. */
class TcpRelay {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    public port: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpRelay> {
    const relay = new TcpRelay(targetHost, targetPort, 0);
    await relay.listen();
    return relay;
  }

  listen(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on("error", () => undefined);
        socket.on("close", () => this.sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    this.server = server;
    return new Promise((resolve) =>
      server.listen(this.port, "127.0.0.1", () => {
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      }),
    );
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = null;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
