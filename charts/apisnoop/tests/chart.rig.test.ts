import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chartDir, helmAvailable, renderChart, runHelm } from "../../../tools/rig/helm";
import { rigApply, rigKubectl } from "../../../tools/rig/kubectl";
import { rigKubeconfigPath } from "../../../tools/rig/rig";
import { uniqueNamespace } from "../../../tools/rig/test-objects";

describe.skipIf(!helmAvailable())("charts/apisnoop against the rig", () => {
  const namespace = uniqueNamespace("chart");
  // A release name per run: ClusterRoles and the webhook configuration are cluster-scoped.
  const release = `r${namespace.slice(-8)}`;

  beforeAll(
    async () => await rigApply({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }),
  );
  afterAll(async () => {
    runHelm([
      "uninstall",
      `${release}i`,
      "-n",
      namespace,
      "--kubeconfig",
      rigKubeconfigPath("admin"),
      "--ignore-not-found",
    ]);
    await rigKubectl(["delete", "namespace", namespace, "--wait=false", "--ignore-not-found"]);
  });

  it("server-side dry-runs every rendered object, with default and non-default values", async () => {
    for (const flags of [[], ["-f", `${chartDir}/tests/custom-values.yaml`]]) {
      const output = await rigKubectl(
        ["apply", "--dry-run=server", "-n", namespace, "-f", "-"],
        renderChart(release, namespace, flags),
      );
      expect(output).toMatch(
        /mutatingwebhookconfiguration\.admissionregistration\.k8s\.io\/\S+ created \(server dry run\)/,
      );
      expect(output).not.toMatch(/error/i);
    }
  });

  it("keeps the CA, serving certificate, token and password on upgrade (lookup of the installed Secret)", async () => {
    // Install the Secret as `helm install` would, then render again the way `helm upgrade` does: with a
    // cluster to look up (`--dry-run=server`). Plain `helm template` has no cluster and would generate anew.
    const installed = renderChart(release, namespace, ["--show-only", "templates/secret.yaml"]);
    await rigKubectl(["apply", "-n", namespace, "-f", "-"], installed);
    const upgraded = renderChart(release, namespace, [
      "--show-only",
      "templates/secret.yaml",
      "--dry-run=server",
      "--kubeconfig",
      rigKubeconfigPath("admin"),
    ]);
    expect(upgraded).toBe(installed);
    const webhooks = renderChart(release, namespace, [
      "--show-only",
      "templates/webhook.yaml",
      "--dry-run=server",
      "--kubeconfig",
      rigKubeconfigPath("admin"),
    ]);
    const caCrt = /ca\.crt: (\S+)/.exec(installed)?.[1];
    expect(caCrt).toBeTruthy();
    expect(webhooks.match(/caBundle: (\S+)/g)).toEqual([`caBundle: ${caCrt}`, `caBundle: ${caCrt}`]);
  });

  it("helm install, then helm upgrade with other values, keeps the Secret byte for byte", async () => {
    // A second release (suffix i) so this test's objects never meet the dry-run ones; the webhook stays off
    // so the shared rig gets no cluster-wide webhook pointing at a Service without endpoints.
    const kubeconfig = ["--kubeconfig", rigKubeconfigPath("admin"), "-n", namespace];
    const name = `${release}i`;
    runHelm(["install", name, chartDir, ...kubeconfig, "--set", "webhook.enabled=false"]);
    const secretOf = async () =>
      JSON.parse(await rigKubectl(["get", "secret", `${name}-apisnoop`, "-n", namespace, "-o", "json"])).data;
    const installed = await secretOf();
    expect(Object.keys(installed).sort()).toEqual([
      "ca.crt",
      "ca.key",
      "dashboard-password",
      "database-url",
      "ingest-token",
      "postgres-password",
      "webhook-tls.crt",
      "webhook-tls.key",
    ]);
    runHelm([
      "upgrade",
      name,
      chartDir,
      ...kubeconfig,
      "--set",
      "webhook.enabled=false",
      "--set",
      "proxy.replicas=2",
    ]);
    expect(await secretOf()).toEqual(installed);
    const proxy = JSON.parse(
      await rigKubectl(["get", "deploy", `${name}-apisnoop-proxy`, "-n", namespace, "-o", "json"]),
    );
    expect(proxy.spec.replicas).toBe(2);
  });
});
