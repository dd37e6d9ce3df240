import { readFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { helmAvailable, renderChart } from "../../../tools/rig/helm";
import { rigApply, rigKubectl } from "../../../tools/rig/kubectl";
import { readRigState, rigKubeconfigPath } from "../../../tools/rig/rig";
import { uniqueNamespace, until } from "../../../tools/rig/test-objects";
import { type CaBundlePublisher, kubeCaBundlePublisher } from "./ca-bundle";

const BUNDLE = "-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n";

/** The bundle ConfigMap's `ca.crt` in `namespace`, or null when there is none. */
async function storedBundle(name: string, namespace: string): Promise<string | null> {
  const out = await rigKubectl([
    "get",
    "configmap",
    name,
    "-n",
    namespace,
    "-o",
    "json",
    "--ignore-not-found",
  ]);
  return out.trim() === ""
    ? null
    : ((JSON.parse(out) as { data?: Record<string, string> }).data?.["ca.crt"] ?? null);
}

function adminConfig(): KubeConfig {
  const config = new KubeConfig();
  config.loadFromFile(rigKubeconfigPath("admin"));
  return config;
}

describe("the CA bundle publisher against the rig", () => {
  const namespace = uniqueNamespace("bundle");
  const name = `bundle-${namespace.slice(-8)}`;
  const publishers: CaBundlePublisher[] = [];
  const logged: string[] = [];
  const publisher = (config: KubeConfig, options: Parameters<typeof kubeCaBundlePublisher>[3]) => {
    const made = kubeCaBundlePublisher(config, name, BUNDLE, {
      log: (line) => logged.push(line),
      ...options,
    });
    publishers.push(made);
    return made;
  };

  beforeAll(async () => {
    await rigApply({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
  });
  afterAll(async () => {
    for (const made of publishers) made.close?.();
    await rigKubectl(["delete", "namespace", namespace, "--wait=false", "--ignore-not-found"]);
  });

  it("reads the ConfigMap again once the check has aged, so a deletion is repaired by the next pod", async () => {
    let clock = 0;
    const ttlOnly = publisher(adminConfig(), { watch: false, checkTtlMs: 5000, now: () => clock });
    await ttlOnly.ensure(namespace);
    expect(await storedBundle(name, namespace)).toBe(BUNDLE);
    await rigKubectl(["delete", "configmap", name, "-n", namespace]);
    // Within the check's lifetime the publisher trusts what it saw (the watch covers this window).
    await ttlOnly.ensure(namespace);
    expect(await storedBundle(name, namespace)).toBeNull();
    clock += 5000;
    await ttlOnly.ensure(namespace);
    expect(await storedBundle(name, namespace)).toBe(BUNDLE);
    ttlOnly.close?.();
  });

  it("puts a deleted ConfigMap back as soon as the watch sees the deletion, without waiting for a pod", async () => {
    const watching = publisher(adminConfig(), { checkTtlMs: 3_600_000 });
    await watching.ensure(namespace);
    await rigKubectl(["delete", "configmap", name, "-n", namespace]);
    await until("the deleted bundle written again", async () => await storedBundle(name, namespace), 15_000);
    expect(logged).toContain(`CA bundle ConfigMap ${namespace}/${name} was deleted; written again`);
    // The watch goes on after an event: a second deletion is repaired too.
    await rigKubectl(["delete", "configmap", name, "-n", namespace]);
    await until("written again", async () => await storedBundle(name, namespace), 15_000);
    watching.close?.();
  });

  describe.skipIf(!helmAvailable())("with only the chart's RBAC", () => {
    const release = `b${namespace.slice(-8)}`;

    it("lists, watches, creates and repairs the bundle as the webhook's service account", async () => {
      // The chart's own ClusterRole and binding for a webhook service account in this test's namespace.
      const rbac = renderChart(release, namespace, [
        "--show-only",
        "templates/rbac.yaml",
        "--set",
        `webhook.caBundleConfigMap=${name}`,
      ]);
      await rigKubectl(["apply", "-f", "-"], rbac);
      await rigApply({
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: `${release}-apisnoop-webhook`, namespace },
      });
      const token = (
        await rigKubectl(["create", "token", `${release}-apisnoop-webhook`, "-n", namespace, "--duration=1h"])
      ).trim();
      const state = readRigState();
      const config = new KubeConfig();
      config.loadFromOptions({
        clusters: [
          {
            name: "rig",
            server: state.server,
            caData: Buffer.from(readFileSync(state.caFile)).toString("base64"),
          },
        ],
        users: [{ name: "webhook", token }],
        contexts: [{ name: "rig", cluster: "rig", user: "webhook" }],
        currentContext: "rig",
      });
      const other = uniqueNamespace("bundle-rbac");
      await rigApply({ apiVersion: "v1", kind: "Namespace", metadata: { name: other } });
      try {
        logged.length = 0;
        const asWebhook = publisher(config, { checkTtlMs: 3_600_000 });
        await asWebhook.ensure(other);
        expect(await storedBundle(name, other)).toBe(BUNDLE);
        await rigKubectl(["delete", "configmap", name, "-n", other]);
        await until("repaired with the chart's RBAC", async () => await storedBundle(name, other), 15_000);
        expect(logged.filter((line) => /failed/.test(line))).toEqual([]);
        asWebhook.close?.();
      } finally {
        await rigKubectl(["delete", "namespace", other, "--wait=false", "--ignore-not-found"]);
        await rigKubectl(["delete", "-f", "-", "--ignore-not-found"], rbac);
      }
    });
  });
});
