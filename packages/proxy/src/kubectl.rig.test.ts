/**
 * Debian's real kubectl through the proxy in both modes against the rig's kube-apiserver: the same
 * scenario run direct and through the proxy must print the same thing, and every call lands in hits.jsonl
 * matched to its operation.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { HitLine } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rigKubeconfigPath } from "../../../tools/rig/rig";
import { type RigProxy, startRigProxy } from "../../../tools/rig-proxy/rig-proxy";

let rig: RigProxy;
const suffix = randomBytes(3).toString("hex");
const namespaces: string[] = [];

beforeAll(async () => {
  rig = await startRigProxy("admin");
});

afterAll(async () => {
  for (const ns of namespaces) {
    spawnSync("kubectl", [
      "--kubeconfig",
      rigKubeconfigPath("admin"),
      "delete",
      "namespace",
      ns,
      "--wait=false",
      "--ignore-not-found",
    ]);
  }
  await rig?.close();
});

type Route = "direct" | "reverse" | "forward";

function kubeconfigFor(route: Route): string {
  return route === "direct" ? rigKubeconfigPath("admin") : rig.kubeconfig("admin", route);
}

/** Runs kubectl without blocking the event loop: the proxy under test lives in this process. */
function kubectl(
  route: Route,
  args: string[],
  input?: string,
): Promise<{ out: string; err: string; status: number | null }> {
  return new Promise((resolve) => {
    const child = spawn("kubectl", ["--kubeconfig", kubeconfigFor(route), ...args], { timeout: 30_000 });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      out += text;
    });
    child.stderr.setEncoding("utf8").on("data", (text: string) => {
      err += text;
    });
    child.on("close", (status) => resolve({ out, err, status }));
    child.stdin.end(input);
  });
}

/** Makes two runs comparable: what legitimately differs between them (names, versions, times) is masked. */
function normalise(text: string, namespace: string): string {
  return text
    .replaceAll(namespace, "NS")
    .replace(/("resourceVersion":\s*)"\d+"/g, '$1"RV"')
    .replace(/("uid":\s*)"[0-9a-f-]{36}"/g, '$1"UID"')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, "TIME")
    .replace(/ {2,}\d+(?:m\d+)?s\b| {2,}\d+m\b/g, "  AGE");
}

const deployment = (namespace: string) =>
  JSON.stringify({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: { containers: [{ name: "c", image: "registry.k8s.io/pause:3.10" }] },
      },
    },
  });

/** The scenario: create/apply/get/list/patch/scale/delete; returns each step's normalised output. */
async function scenario(route: Route): Promise<string[]> {
  const ns = `proxy-kubectl-${route}-${suffix}`;
  namespaces.push(ns);
  const steps: string[][] = [
    ["create", "namespace", ns],
    ["create", "configmap", "cm1", "-n", ns, "--from-literal=a=1"],
    ["apply", "-f", "-"],
    ["apply", "--server-side", "--field-manager=proxy-test", "-f", "-"],
    ["get", "configmap", "cm1", "-n", ns, "-o", "json"],
    // kube-root-ca.crt appears whenever a controller-manager gets to it: not part of the comparison.
    ["get", "configmaps", "-n", ns, "-o", "name", "--field-selector", "metadata.name!=kube-root-ca.crt"],
    ["get", "configmaps", "-n", ns, "--field-selector", "metadata.name!=kube-root-ca.crt"],
    ["patch", "configmap", "cm1", "-n", ns, "--type", "merge", "-p", '{"data":{"b":"2"}}'],
    ["get", "configmap", "cm1", "-n", ns, "-o", "jsonpath={.data}"],
    ["scale", "deployment", "web", "-n", ns, "--replicas=3"],
    ["get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}"],
    ["get", "--raw", `/api/v1/namespaces/${ns}/configmaps/cm1`],
    ["delete", "configmap", "cm1", "-n", ns],
    ["get", "configmap", "cm1", "-n", ns],
    ["delete", "deployment", "web", "-n", ns],
  ];
  const outputs: string[] = [];
  for (const args of steps) {
    const input = args[0] === "apply" ? deployment(ns) : undefined;
    const { out, err, status } = await kubectl(route, args, input);
    outputs.push(normalise(`${args.join(" ")}\n--- exit ${status}\n${out}\n--- stderr\n${err}`, ns));
  }
  return outputs;
}

/** `kubectl get configmaps --watch`, a ConfigMap created once the watch is open, then the watch stopped. */
async function watchScenario(route: Route): Promise<string> {
  const ns = `proxy-watch-${route}-${suffix}`;
  namespaces.push(ns);
  await kubectl("direct", ["create", "namespace", ns]);
  const watcher = spawn("kubectl", [
    "--kubeconfig",
    kubeconfigFor(route),
    "get",
    "configmaps",
    "-n",
    ns,
    "--watch",
    "-o",
    "name",
  ]);
  let out = "";
  watcher.stdout.setEncoding("utf8").on("data", (text: string) => {
    out += text;
  });
  const seen = (name: string) => out.includes(name);
  const deadline = Date.now() + 20_000;
  // The watch lists first, then watches from the list's resourceVersion: give it time to open.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await kubectl("direct", ["create", "configmap", "watched", "-n", ns]);
  while (!seen("configmap/watched") && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  watcher.kill("SIGTERM");
  // Only our ConfigMap: kube-root-ca.crt shows up whenever a controller-manager gets to it.
  return normalise(
    out
      .split("\n")
      .filter((line) => !line.includes("kube-root-ca.crt"))
      .join("\n"),
    ns,
  );
}

describe("kubectl through the proxy", () => {
  it("prints exactly what it prints direct, in reverse and forward mode", async () => {
    const direct = await scenario("direct");
    expect(direct.join("\n")).toContain("configmap/cm1 created");
    expect(await scenario("reverse")).toEqual(direct);
    expect(await scenario("forward")).toEqual(direct);
  }, 180_000);

  it("streams a watch in both modes", async () => {
    const direct = await watchScenario("direct");
    expect(direct).toContain("configmap/watched");
    expect(await watchScenario("reverse")).toEqual(direct);
    expect(await watchScenario("forward")).toEqual(direct);
  });

  it("records every call in hits.jsonl, matched to its operation, with only Kubernetes query parameters", async () => {
    const hits = await rig.hits(1);
    const kubectlHits = hits.filter((hit) => hit.userAgent?.startsWith("kubectl"));
    expect(kubectlHits.length).toBeGreaterThan(40);
    const optional = ["source", "details", "requestFields", "responseFields"];
    for (const hit of kubectlHits) {
      expect(
        Object.keys(hit)
          .filter((key) => !optional.includes(key))
          .sort(),
      ).toEqual(
        [
          "durationMs",
          "method",
          "operationId",
          "path",
          "query",
          "status",
          "ts",
          "userAgent",
          ...(hit.operationId ? [] : ["reason"]),
        ].sort(),
      );
      expect(hit.path).not.toContain("?");
    }
    const operations = new Set(kubectlHits.map((hit) => hit.operationId));
    for (const operationId of [
      "createCoreV1Namespace",
      "createCoreV1NamespacedConfigMap",
      "readCoreV1NamespacedConfigMap",
      "listCoreV1NamespacedConfigMap",
      "patchCoreV1NamespacedConfigMap",
      "deleteCoreV1NamespacedConfigMap",
      "patchAppsV1NamespacedDeployment",
      "patchAppsV1NamespacedDeploymentScale",
      "readAppsV1NamespacedDeployment",
      "deleteAppsV1NamespacedDeployment",
    ]) {
      expect(operations, operationId).toContain(operationId);
    }
    const watch = kubectlHits.find(
      (hit) => hit.operationId === "listCoreV1NamespacedConfigMap" && hit.query.includes("watch=true"),
    );
    expect(watch?.status).toBe(200);
    const notFound = kubectlHits.find(
      (hit) => hit.status === 404 && hit.operationId === "readCoreV1NamespacedConfigMap",
    );
    expect(notFound).toBeDefined();
  });

  it("records the field paths of real objects: a typo'd field applied with --validate=false is unknown", async () => {
    const ns = `proxy-fields-${suffix}`;
    namespaces.push(ns);
    await kubectl("reverse", ["create", "namespace", ns]);
    const typo = JSON.parse(deployment(ns));
    typo.spec.template.spec.containers[0].imagePullPolcy = "Always";
    const applied = await kubectl("reverse", ["apply", "--validate=false", "-f", "-"], JSON.stringify(typo));
    expect(applied.err).toBe("");
    const listed = await kubectl("reverse", ["get", "deployments", "-n", ns, "-o", "json"]);
    expect(JSON.parse(listed.out).items).toHaveLength(1);
    const deadline = Date.now() + 10_000;
    let create: HitLine | undefined;
    let list: HitLine | undefined;
    while ((!create || !list) && Date.now() < deadline) {
      const hits = await rig.hits();
      create = hits.find((h) => h.operationId === "createAppsV1NamespacedDeployment" && h.path.includes(ns));
      list = hits.find((h) => h.operationId === "listAppsV1NamespacedDeployment" && h.path.includes(ns));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(create?.requestFields?.fields).toContain(
      "io.k8s.api.apps.v1.Deployment:spec.template.spec.containers[].image",
    );
    expect(create?.requestFields?.unknown).toEqual([
      "io.k8s.api.apps.v1.Deployment:spec.template.spec.containers[].imagePullPolcy",
    ]);
    // The list response is read item by item, as Deployments; the server dropped the unknown field.
    expect(list?.responseFields?.fields).toContain(
      "io.k8s.api.apps.v1.Deployment:spec.template.spec.containers[].image",
    );
    expect(list?.responseFields?.fields).toContain(
      "io.k8s.api.apps.v1.Deployment:metadata.creationTimestamp",
    );
    expect(list?.responseFields?.unknown).toEqual([]);
  }, 60_000);
});
