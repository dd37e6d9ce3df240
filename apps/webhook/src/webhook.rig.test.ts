import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rigApply, rigKubectl } from "../../../tools/rig/kubectl";
import { readRigState, rigHostAddress, rigKubeconfigPath } from "../../../tools/rig/rig";
import { UNSCHEDULED, uniqueNamespace } from "../../../tools/rig/test-objects";
import { type CaBundlePublisher, caBundle, kubeCaBundlePublisher } from "./ca-bundle";
import type { InjectionSettings } from "./pod-injection";
import { type RunningWebhookServer, startWebhookServer } from "./webhook-server";

/** A self-signed certificate for `subjectAltName`, made with openssl in `dir`; returns PEM cert and key. */
function selfSigned(dir: string, name: string, subjectAltName: string): { cert: string; key: string } {
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"],
      ...["-keyout", `${name}.key`, "-out", `${name}.crt`, "-subj", `/CN=${name}`, "-addext", subjectAltName],
    ],
    { cwd: dir, stdio: "ignore" },
  );
  return {
    cert: readFileSync(join(dir, `${name}.crt`), "utf8"),
    key: readFileSync(join(dir, `${name}.key`), "utf8"),
  };
}

interface StoredPod {
  metadata: { annotations?: Record<string, string> };
  spec: {
    containers: Array<{ env?: Array<{ name: string; value?: string }> }>;
    volumes?: Array<{ name: string; projected?: { sources: Array<{ configMap?: { name: string } }> } }>;
  };
}

const settings: InjectionSettings = {
  proxyHost: "apisnoop-proxy.apisnoop.svc",
  proxyPort: 8443,
  caBundleConfigMap: "apisnoop-ca-bundle",
};

describe("the opt-in webhook registered with the rig", () => {
  const snooped = uniqueNamespace("snooped");
  const plain = uniqueNamespace("plain");
  const configuration = `apisnoop-test-${snooped}`;
  const dir = mkdtempSync(join(tmpdir(), "apisnoop-webhook-"));
  let server: RunningWebhookServer | undefined;
  let publisher: CaBundlePublisher | undefined;
  let bundle = "";

  /** Creates a pause Pod (never scheduled) and returns it as stored. */
  async function createPod(
    namespace: string,
    name: string,
    annotations: Record<string, string> = {},
  ): Promise<StoredPod> {
    await rigApply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace, annotations },
      spec: {
        schedulerName: UNSCHEDULED,
        containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }],
      },
    });
    return JSON.parse(await rigKubectl(["get", "pod", name, "-n", namespace, "-o", "json"])) as StoredPod;
  }
  const envOf = (pod: StoredPod) =>
    Object.fromEntries((pod.spec.containers[0]?.env ?? []).map((entry) => [entry.name, entry.value]));
  const caSourceOf = (pod: StoredPod) =>
    pod.spec.volumes
      ?.find((volume) => volume.name.startsWith("kube-api-access-"))
      ?.projected?.sources.find((source) => source.configMap)?.configMap?.name;

  beforeAll(async () => {
    // Where the apiserver reaches this process: 127.0.0.1, or this host's end of the node's link.
    const host = rigHostAddress();
    const serving = selfSigned(dir, "webhook", `subjectAltName=IP:${host}`);
    const proxyCa = selfSigned(dir, "proxy-ca", "basicConstraints=critical,CA:TRUE");
    bundle = caBundle(readFileSync(readRigState().caFile, "utf8"), proxyCa.cert);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(rigKubeconfigPath("admin"));
    publisher = kubeCaBundlePublisher(kubeConfig, settings.caBundleConfigMap, bundle);
    server = await startWebhookServer({
      host,
      port: 0,
      ...serving,
      settings,
      publisher,
    });
    for (const [name, labels] of [
      [snooped, { "apisnoop.io/snoop": "true" }],
      [plain, {}],
    ] as const) {
      await rigApply({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } });
      // The ServiceAccount admission plugin needs the default account (kube-controller-manager may lag).
      await rigApply({
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: "default", namespace: name },
      });
    }
    // The chart's two entries, limited to this test's namespaces so other rig tests are never touched.
    const ours = { key: "kubernetes.io/metadata.name", operator: "In", values: [snooped, plain] };
    const caBundleField = Buffer.from(serving.cert).toString("base64");
    await rigApply({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "MutatingWebhookConfiguration",
      metadata: { name: configuration },
      webhooks: (["namespace", "pod"] as const).map((scope) => ({
        name: `${scope}.snoop.apisnoop.io`,
        admissionReviewVersions: ["v1"],
        sideEffects: "NoneOnDryRun",
        failurePolicy: "Ignore",
        timeoutSeconds: 5,
        clientConfig: { url: `${server?.url}/mutate/${scope}`, caBundle: caBundleField },
        rules: [
          {
            operations: ["CREATE"],
            apiGroups: [""],
            apiVersions: ["v1"],
            resources: ["pods"],
            scope: "Namespaced",
          },
        ],
        namespaceSelector: {
          matchExpressions: [
            ours,
            { key: "apisnoop.io/snoop", operator: scope === "namespace" ? "In" : "NotIn", values: ["true"] },
          ],
        },
      })),
    });
    // The apiserver picks webhook configurations up from an informer: wait until a dry-run pod is mutated.
    const probe = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "probe", namespace: snooped },
      spec: { containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }] },
    };
    for (let attempt = 0; ; attempt++) {
      const dryRun = await rigKubectl(
        ["create", "--dry-run=server", "-o", "json", "-f", "-"],
        JSON.stringify(probe),
      );
      if (dryRun.includes("apisnoop.io/injected")) break;
      if (attempt === 30) throw new Error("the webhook configuration never took effect");
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  });

  afterAll(async () => {
    await server?.close();
    publisher?.close?.();
    await rigKubectl(["delete", "mutatingwebhookconfiguration", configuration, "--ignore-not-found"]);
    await rigKubectl(["delete", "namespace", snooped, plain, "--wait=false", "--ignore-not-found"]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("routes a pod of a labelled namespace through the proxy and makes it trust the bundle", async () => {
    const pod = await createPod(snooped, "addon", { "apisnoop.io/source": "my-addon" });
    expect(envOf(pod)).toMatchObject({
      KUBERNETES_SERVICE_HOST: "apisnoop-proxy.apisnoop.svc",
      KUBERNETES_SERVICE_PORT: "8443",
      APISNOOP_SOURCE: "my-addon",
    });
    expect(caSourceOf(pod)).toBe("apisnoop-ca-bundle");
    expect(pod.metadata.annotations?.["apisnoop.io/injected"]).toBe("true");
    const configMap = JSON.parse(
      await rigKubectl(["get", "configmap", "apisnoop-ca-bundle", "-n", snooped, "-o", "json"]),
    ) as { data: Record<string, string> };
    expect(configMap.data["ca.crt"]).toBe(bundle);
  });

  it("leaves pods elsewhere untouched unless annotated", async () => {
    const untouched = await createPod(plain, "bystander");
    expect(envOf(untouched)).toEqual({});
    expect(caSourceOf(untouched)).toBe("kube-root-ca.crt");
    expect(untouched.metadata.annotations?.["apisnoop.io/injected"]).toBeUndefined();
    const annotated = await createPod(plain, "annotated", { "apisnoop.io/snoop": "true" });
    expect(envOf(annotated).KUBERNETES_SERVICE_HOST).toBe("apisnoop-proxy.apisnoop.svc");
    expect(caSourceOf(annotated)).toBe("apisnoop-ca-bundle");
  });

  it("leaves an opted-in hostNetwork pod unrouted and says why in an annotation", async () => {
    await rigApply({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "node-agent", namespace: snooped },
      spec: { hostNetwork: true, containers: [{ name: "app", image: "registry.k8s.io/pause:3.10" }] },
    });
    const pod = JSON.parse(
      await rigKubectl(["get", "pod", "node-agent", "-n", snooped, "-o", "json"]),
    ) as StoredPod;
    expect(envOf(pod)).toEqual({});
    expect(caSourceOf(pod)).toBe("kube-root-ca.crt");
    expect(pod.metadata.annotations?.["apisnoop.io/injected"]).toBeUndefined();
    expect(pod.metadata.annotations?.["apisnoop.io/skipped"]).toMatch(/^hostNetwork pod: .*not routed$/);
  });

  it("writes a deleted bundle ConfigMap again before the next pod is admitted", async () => {
    await createPod(snooped, "before-delete");
    await rigKubectl(["delete", "configmap", "apisnoop-ca-bundle", "-n", snooped]);
    const pod = await createPod(snooped, "after-delete");
    expect(caSourceOf(pod)).toBe("apisnoop-ca-bundle");
    // The pod's volume source exists by the time the pod does: it will not wait in ContainerCreating.
    expect(await rigKubectl(["get", "configmap", "apisnoop-ca-bundle", "-n", snooped, "-o", "name"])).toBe(
      "configmap/apisnoop-ca-bundle\n",
    );
  });

  it("publishes the bundle again into a namespace deleted and created again under the same name", async () => {
    await createPod(snooped, "first-life");
    // Waits until kube-controller-manager's namespace controller has removed the namespace and its objects.
    await rigKubectl(["delete", "namespace", snooped, "--wait=true", "--timeout=60s"]);
    await rigApply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: snooped, labels: { "apisnoop.io/snoop": "true" } },
    });
    await rigApply({
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "default", namespace: snooped },
    });
    const pod = await createPod(snooped, "second-life");
    expect(caSourceOf(pod)).toBe("apisnoop-ca-bundle");
    const configMap = JSON.parse(
      await rigKubectl(["get", "configmap", "apisnoop-ca-bundle", "-n", snooped, "-o", "json"]),
    ) as { data: Record<string, string> };
    expect(configMap.data["ca.crt"]).toBe(bundle);
  });

  it("never blocks pod creation: with the webhook server stopped, pods are still created", async () => {
    await server?.close();
    server = undefined;
    const pod = await createPod(snooped, "while-down");
    expect(envOf(pod)).toEqual({});
    expect(caSourceOf(pod)).toBe("kube-root-ca.crt");
  });
});
