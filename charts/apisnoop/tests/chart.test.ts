import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadAll } from "js-yaml";
import { describe, expect, it } from "vitest";
import { proxyCommand } from "../../../apps/cli/src/commands/proxy";
import { chartDir, helmAvailable, helmPath, renderChart, runHelm } from "../../../tools/rig/helm";
import { repoRoot } from "../../../tools/rig/rig";

const GENERATED_KEYS = [
  "ca.crt",
  "ca.key",
  "ingest-token",
  "dashboard-password",
  "webhook-tls.crt",
  "webhook-tls.key",
  "postgres-password",
  "database-url",
  "caBundle",
  "checksum/ca",
];

/**
 * The rendering with every value generated at install (keys, certificates, token, password and what
 * derives from them) replaced by `<generated>`, so golden files compare the structure deterministically.
 */
function withoutGenerated(manifests: string): string {
  const keys = GENERATED_KEYS.map((key) => key.replaceAll(".", "\\.")).join("|");
  return manifests.replace(new RegExp(`^(\\s+)(${keys}): .+$`, "gm"), "$1$2: <generated>");
}

interface Manifest {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: Record<string, unknown>;
  webhooks?: Array<Record<string, unknown> & { clientConfig: { caBundle: string } }>;
  rules?: Array<Record<string, unknown>>;
}

const customValues = join(chartDir, "tests", "custom-values.yaml");
const parse = (text: string) =>
  (loadAll(text) as Array<Manifest | null>).filter((doc): doc is Manifest => !!doc);
const find = (docs: Manifest[], kind: string, name: string) => {
  const doc = docs.find((candidate) => candidate.kind === kind && candidate.metadata.name === name);
  if (!doc) throw new Error(`no ${kind} ${name} rendered`);
  return doc;
};
const secretValue = (secret: Manifest, key: string) =>
  Buffer.from(secret.data?.[key] ?? "", "base64").toString("utf8");

/** Compares with charts/apisnoop/tests/<name>.golden.yaml; UPDATE_GOLDEN=1 rewrites the file instead. */
function expectGolden(name: string, manifests: string) {
  const file = join(chartDir, "tests", `${name}.golden.yaml`);
  const actual = withoutGenerated(manifests);
  if (process.env.UPDATE_GOLDEN === "1" || !existsSync(file)) writeFileSync(file, actual);
  expect(actual, `${file} is stale: UPDATE_GOLDEN=1 npx vitest run charts/apisnoop`).toBe(
    readFileSync(file, "utf8"),
  );
}

describe.skipIf(!helmAvailable())(`charts/apisnoop with ${helmPath()}`, () => {
  it("passes helm lint with default and non-default values", () => {
    expect(runHelm(["lint", chartDir])).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(runHelm(["lint", chartDir, "-f", customValues])).toMatch(/0 chart\(s\) failed/);
  });

  it("renders the default values as in the golden file", () => {
    const manifests = renderChart("apisnoop", "apisnoop");
    expectGolden("default", manifests);
    const kinds = parse(manifests).map((doc) => `${doc.kind}/${doc.metadata.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        "Deployment/apisnoop-proxy",
        "Service/apisnoop-proxy",
        "Deployment/apisnoop-web",
        "Service/apisnoop-web",
        "StatefulSet/apisnoop-postgresql",
        "Secret/apisnoop",
        "ClusterRole/apisnoop-proxy",
        "MutatingWebhookConfiguration/apisnoop",
      ]),
    );
    expect(kinds).not.toContain("Ingress/apisnoop-web");
  });

  it("renders non-default values (replicas, persistent spools, Ingress, external database) as in the golden file", () => {
    const manifests = renderChart("obs", "observability", ["-f", customValues]);
    expectGolden("custom", manifests);
    const docs = parse(manifests);
    const proxy = find(docs, "StatefulSet", "obs-snoop-proxy");
    expect(proxy.spec?.replicas).toBe(3);
    expect(find(docs, "Deployment", "obs-snoop-web").spec?.replicas).toBe(2);
    expect(find(docs, "Ingress", "obs-snoop-web").spec).toMatchObject({ ingressClassName: "nginx" });
    // Each proxy gets a claim of its own for its spool, mounted where the proxy spools; no emptyDir.
    expect(proxy.spec).toMatchObject({
      serviceName: "obs-snoop-proxy",
      volumeClaimTemplates: [
        {
          metadata: { name: "spool" },
          spec: {
            accessModes: ["ReadWriteOnce"],
            storageClassName: "fast-ssd",
            resources: { requests: { storage: "2Gi" } },
          },
        },
      ],
    });
    const pod = proxy.spec?.template as {
      spec: {
        volumes: { name: string }[];
        containers: { args: string[]; volumeMounts: { name: string; mountPath: string }[] }[];
      };
    };
    expect(pod.spec.volumes.map((volume) => volume.name)).not.toContain("spool");
    expect(pod.spec.containers[0]?.volumeMounts).toContainEqual({
      name: "spool",
      mountPath: "/var/lib/apisnoop/spool",
    });
    expect(pod.spec.containers[0]?.args).toContain("--spool-max-mib=900");
    // The PodDisruptionBudget and the Service still select the proxies.
    const labels = (proxy.spec?.selector as { matchLabels: Record<string, string> } | undefined)?.matchLabels;
    expect(find(docs, "PodDisruptionBudget", "obs-snoop-proxy").spec?.selector).toEqual({
      matchLabels: labels,
    });
    expect(find(docs, "Service", "obs-snoop-proxy").spec?.selector).toEqual(labels);
    expect(docs.some((doc) => doc.kind === "StatefulSet" && doc.metadata.name !== "obs-snoop-proxy")).toBe(
      false,
    );
    expect(JSON.stringify(find(docs, "Deployment", "obs-snoop-web").spec)).toContain(
      '"secretKeyRef":{"name":"apisnoop-database","key":"url"}',
    );
    expect(() => renderChart("apisnoop", "x", ["--set", "postgresql.enabled=false"])).toThrow(
      /externalDatabase.existingSecret is required/,
    );
  });

  it("generates one CA per install: the Secret, the webhook's caBundle and serving certificate agree", () => {
    const docs = parse(renderChart("apisnoop", "apisnoop"));
    const secret = find(docs, "Secret", "apisnoop");
    const ca = new X509Certificate(secretValue(secret, "ca.crt"));
    expect(ca.ca).toBe(true);
    const serving = new X509Certificate(secretValue(secret, "webhook-tls.crt"));
    expect(serving.verify(ca.publicKey)).toBe(true);
    expect(serving.subjectAltName).toContain("DNS:apisnoop-webhook.apisnoop.svc");
    for (const webhook of find(docs, "MutatingWebhookConfiguration", "apisnoop").webhooks ?? []) {
      expect(webhook.clientConfig.caBundle).toBe(secret.data?.["ca.crt"]);
      expect(webhook.failurePolicy).toBe("Ignore");
    }
    expect(secretValue(secret, "ingest-token")).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(secretValue(secret, "dashboard-password")).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(secretValue(secret, "database-url")).toMatch(
      /^postgresql:\/\/apisnoop:[A-Za-z0-9]{32}@apisnoop-postgresql:5432\/apisnoop$/,
    );
  });

  it("keeps given secrets as they are (the path an upgrade with --set or -f takes)", () => {
    const first = find(parse(renderChart("apisnoop", "apisnoop")), "Secret", "apisnoop");
    const again = find(
      parse(
        renderChart("apisnoop", "apisnoop", [
          "--set-string",
          `secrets.caCert=${secretValue(first, "ca.crt")}`,
          "--set-string",
          `secrets.caKey=${secretValue(first, "ca.key")}`,
          "--set-string",
          "secrets.ingestToken=given-ingest-token-0123456789",
        ]),
      ),
      "Secret",
      "apisnoop",
    );
    expect(again.data?.["ca.crt"]).toBe(first.data?.["ca.crt"]);
    expect(again.data?.["ca.key"]).toBe(first.data?.["ca.key"]);
    expect(secretValue(again, "ingest-token")).toBe("given-ingest-token-0123456789");
  });

  it("makes viewers sign in by default, with the Secret's password; none only when asked", () => {
    type Env = Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { key: string } } }>;
    const webEnv = (flags: string[]) =>
      (
        find(parse(renderChart("apisnoop", "apisnoop", flags)), "Deployment", "apisnoop-web").spec as {
          template: { spec: { containers: Array<{ env: Env }> } };
        }
      ).template.spec.containers[0]?.env ?? [];
    const exposed = webEnv(["--set", "web.ingress.enabled=true"]);
    expect(exposed.find((e) => e.name === "APISNOOP_DASHBOARD_USER")?.value).toBe("apisnoop");
    expect(exposed.find((e) => e.name === "APISNOOP_DASHBOARD_PASSWORD")?.valueFrom?.secretKeyRef?.key).toBe(
      "dashboard-password",
    );
    const behindProxy = webEnv(["--set", "web.ingress.enabled=true", "--set", "web.auth.mode=none"]);
    expect(behindProxy.map((e) => e.name)).not.toContain("APISNOOP_DASHBOARD_PASSWORD");
    expect(() => renderChart("apisnoop", "x", ["--set", "web.auth.mode=open"])).toThrow(
      /web.auth.mode must be basic or none/,
    );
  });

  it("passes the proxy only flags `apisnoop proxy` has and the web app only variables env.ts reads", () => {
    const docs = parse(renderChart("apisnoop", "apisnoop"));
    type PodSpec = { containers: Array<{ args?: string[]; env?: Array<{ name: string }> }> };
    const podOf = (name: string) =>
      (find(docs, "Deployment", name).spec as { template: { spec: PodSpec } }).template.spec;
    const proxyArgs = podOf("apisnoop-proxy").containers[0]?.args ?? [];
    expect(proxyArgs[0]).toBe("proxy");
    for (const arg of proxyArgs.slice(1)) expect(proxyCommand.help).toContain(`${arg.split("=")[0]} `);
    const envSource = readFileSync(join(repoRoot, "apps/web/src/env.ts"), "utf8");
    for (const { name } of podOf("apisnoop-web").containers[0]?.env ?? [])
      expect(envSource, `env.ts reads ${name}`).toContain(`  ${name}:`);
  });

  it("grants the proxy only what it needs", () => {
    const role = find(parse(renderChart("apisnoop", "apisnoop")), "ClusterRole", "apisnoop-proxy");
    expect(role.rules).toEqual([
      { apiGroups: [""], resources: ["pods", "namespaces"], verbs: ["get", "list", "watch"] },
      {
        apiGroups: ["apiextensions.k8s.io"],
        resources: ["customresourcedefinitions"],
        verbs: ["list", "watch"],
      },
      { nonResourceURLs: ["/openapi/v2", "/version"], verbs: ["get"] },
    ]);
  });
});

it.runIf(!helmAvailable())("skips the chart tests: no helm binary (npm run rig:build builds it)", () => {});
