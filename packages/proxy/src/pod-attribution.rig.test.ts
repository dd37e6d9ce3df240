/**
 * Pod attribution end to end (GUIDE §2): a proxy with its pod informer in front of the rig,
 * a Helm-labelled pod whose IP is a loopback address of this host, and a client calling through the proxy
 * from that address: its hits carry the pod's namespace, name, service account, chart, release and
 * `apisnoop.io/source` name. The pod is never scheduled, so its IP is written through pods/status as a
 * kubelet would; the loopback /8 lets this host's client own that IP.
 */
import { randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import type { HitLine } from "@apisnoop/protocol";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rigKubeconfigPath } from "../../../tools/rig/rig";
import { UNSCHEDULED, uniqueNamespace, until } from "../../../tools/rig/test-objects";
import { type RunningProxy, startProxy } from "./start-proxy";

const namespace = uniqueNamespace("pod-attribution");
const kubeconfig = rigKubeconfigPath("admin-cert");
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const api = kc.makeApiClient(CoreV1Api);
/** This run's own loopback address: the "pod IP" the client connects from. */
const podIp = `127.${randomInt(1, 250)}.${randomInt(1, 250)}.${randomInt(2, 250)}`;
const dir = mkdtempSync(path.join(tmpdir(), "pod-attribution-"));
let proxy: RunningProxy;

/** GET through the proxy from `localAddress`, with no credential (the proxy presents its own). */
function getFrom(localAddress: string, url: string): Promise<number> {
  const target = new URL(proxy.url);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: target.hostname,
        port: target.port,
        path: url,
        localAddress,
        ca: proxy.ca.certificatePem,
        headers: { "user-agent": "addon-operator/v2.1.0" },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  await api.createNamespace({ body: { metadata: { name: namespace } } });
  await until("the default ServiceAccount", () =>
    api.readNamespacedServiceAccount({ name: "default", namespace }).catch(() => null),
  );
  await api.createNamespacedPod({
    namespace,
    body: {
      metadata: {
        name: "addon-7d9f-abcde",
        labels: {
          "helm.sh/chart": "addon-1.2.3",
          "app.kubernetes.io/instance": "my-addon",
          "app.kubernetes.io/managed-by": "Helm",
        },
        annotations: { "apisnoop.io/source": "my-addon-operator" },
      },
      spec: {
        schedulerName: UNSCHEDULED,
        containers: [{ name: "operator", image: "registry.k8s.io/pause:3.10" }],
      },
    },
  });
  const pod = await api.readNamespacedPodStatus({ name: "addon-7d9f-abcde", namespace });
  pod.status = { ...pod.status, podIP: podIp, podIPs: [{ ip: podIp }] };
  await api.replaceNamespacedPodStatus({ name: "addon-7d9f-abcde", namespace, body: pod });
  proxy = await startProxy({
    kubeconfig,
    listen: { host: "127.0.0.1", port: 0 },
    adminListen: null,
    spec: "live",
    out: path.join(dir, "hits.jsonl"),
    caDir: path.join(dir, "ca"),
    pods: "informer",
  });
});

afterAll(async () => {
  await proxy?.close();
  await api.deleteNamespace({ name: namespace }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe("pod attribution through the proxy", () => {
  it("attributes a call from the pod's IP to the pod, its chart and its source annotation", async () => {
    expect(await getFrom(podIp, `/api/v1/namespaces/${namespace}/configmaps`)).toBe(200);
    expect(await getFrom("127.0.0.1", `/api/v1/namespaces/${namespace}/secrets`)).toBe(200);
    const hits = await until("both hits recorded", () => {
      const lines = readFileSync(path.join(dir, "hits.jsonl"), "utf8").split("\n").filter(Boolean);
      const parsed = lines
        .map((line) => JSON.parse(line) as HitLine)
        .filter((h) => h.path.includes(namespace));
      return parsed.length >= 2 ? parsed : null;
    });
    const fromPod = hits.find((hit) => hit.operationId === "listCoreV1NamespacedConfigMap");
    expect(fromPod?.source).toEqual({
      name: "my-addon-operator",
      namespace,
      pod: "addon-7d9f-abcde",
      serviceAccount: "default",
      chart: "addon-1.2.3",
      helmRelease: "my-addon",
      managedBy: "Helm",
      // The proxy's --cluster default: the name of the kubeconfig's cluster.
      cluster: "apisnoop-rig",
    });
    const fromHost = hits.find((hit) => hit.operationId === "listCoreV1NamespacedSecret");
    // Not a pod: nothing of a pod's identity, only the cluster every hit of this proxy carries.
    expect(fromHost?.source).toEqual({ cluster: "apisnoop-rig" });
  });
});
