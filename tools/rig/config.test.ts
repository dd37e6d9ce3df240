import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import {
  apiserverArgs,
  auditPolicy,
  controllerManagerArgs,
  etcdArgs,
  kubeconfig,
  parseAuditRequestResponse,
  tokenOf,
  tokensCsv,
} from "./config";
import { rigLayout } from "./layout";
import { generateRigPki } from "./pki";

const layout = rigLayout("/rig");
const ports = { apiserver: 6443, etcd: 2379, etcdPeer: 2380 };
/** `--name=value` flags as a map (the last one wins, as in pflag). */
const flags = (args: string[]) =>
  new Map(
    args.map((arg) => {
      const [name = "", ...value] = arg.replace(/^--/, "").split("=");
      return [name, value.length > 0 ? value.join("=") : undefined];
    }),
  );

describe("etcd and kube-apiserver command lines", () => {
  it("keeps etcd on 127.0.0.1 with its data in the rig directory", () => {
    const etcd = flags(etcdArgs(layout, ports));
    expect(etcd.get("listen-client-urls")).toBe("http://127.0.0.1:2379");
    expect(etcd.get("listen-peer-urls")).toBe("http://127.0.0.1:2380");
    expect(etcd.get("data-dir")).toBe("/rig/etcd-data");
  });

  it("binds and advertises the given address, and publishes no Endpoints for a loopback one", () => {
    const loopback = flags(
      apiserverArgs(layout, { ports, address: "127.0.0.1", featureGates: "A=true", node: false }),
    );
    expect(loopback.get("bind-address")).toBe("127.0.0.1");
    expect(loopback.get("advertise-address")).toBe("127.0.0.1");
    expect(loopback.get("endpoint-reconciler-type")).toBe("none");
    expect(loopback.get("etcd-servers")).toBe("http://127.0.0.1:2379");
    expect(loopback.get("feature-gates")).toBe("A=true");

    const routable = flags(
      apiserverArgs(layout, { ports, address: "10.77.0.2", featureGates: "A=true", node: true }),
    );
    expect(routable.get("bind-address")).toBe("10.77.0.2");
    expect(routable.has("endpoint-reconciler-type")).toBe(false);
  });

  it("authorizes a node's kubelet as a node and reaches it by its InternalIP", () => {
    const apiOnly = flags(
      apiserverArgs(layout, { ports, address: "127.0.0.1", featureGates: "", node: false }),
    );
    expect(apiOnly.get("authorization-mode")).toBe("RBAC");
    expect(apiOnly.has("kubelet-client-certificate")).toBe(false);
    const withNode = flags(
      apiserverArgs(layout, { ports, address: "10.77.0.2", featureGates: "", node: true }),
    );
    expect(withNode.get("authorization-mode")).toBe("Node,RBAC");
    expect(withNode.get("enable-admission-plugins")?.split(",")).toContain("NodeRestriction");
    expect(withNode.get("kubelet-client-certificate")).toBe(layout.pki.kubeletClientCert);
    expect(withNode.get("kubelet-preferred-address-types")).toBe("InternalIP");
  });

  it("lets aggregated API servers trust the identity headers of the front proxy's certificate only", () => {
    for (const node of [false, true]) {
      const args = flags(apiserverArgs(layout, { ports, address: "127.0.0.1", featureGates: "", node }));
      expect(args.get("requestheader-client-ca-file")).toBe(layout.pki.frontProxyCaCert);
      expect(args.get("requestheader-allowed-names")).toBe("front-proxy-client");
      expect(args.get("requestheader-username-headers")).toBe("X-Remote-User");
      expect(args.get("proxy-client-cert-file")).toBe(layout.pki.frontProxyClientCert);
      expect(args.get("proxy-client-key-file")).toBe(layout.pki.frontProxyClientKey);
      expect(args.get("client-ca-file")).not.toBe(args.get("requestheader-client-ca-file"));
    }
  });

  it("points every file flag of the control plane into the rig directory", () => {
    const args = [
      ...apiserverArgs(layout, { ports, address: "127.0.0.1", featureGates: "", node: true }),
      ...controllerManagerArgs(layout),
    ];
    const files = args
      .map((arg) => arg.slice(arg.indexOf("=") + 1))
      .filter((value) => value.startsWith("/"))
      .sort();
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) expect(file.startsWith("/rig/"), file).toBe(true);
  });
});

describe("audit policy", () => {
  it("logs the listed resources at RequestResponse, grouped by API group, and the rest at Metadata", () => {
    const policy = load(auditPolicy(parseAuditRequestResponse(" configmaps, apps/deployments,core/pods ,")));
    expect(policy).toEqual({
      apiVersion: "audit.k8s.io/v1",
      kind: "Policy",
      omitStages: ["RequestReceived"],
      rules: [
        {
          level: "RequestResponse",
          resources: [
            { group: "", resources: ["configmaps", "pods"] },
            { group: "apps", resources: ["deployments"] },
          ],
        },
        { level: "Metadata" },
      ],
    });
  });

  it("is Metadata only for an empty list", () => {
    expect(load(auditPolicy(parseAuditRequestResponse("")))).toMatchObject({
      rules: [{ level: "Metadata" }],
    });
  });
});

describe("kubeconfig and token file", () => {
  it("writes one cluster, user and context, with a token or a client certificate", () => {
    const withToken = load(kubeconfig("https://127.0.0.1:1", "Q0E=", "admin", { token: "t0k" })) as {
      clusters: Array<{ cluster: Record<string, string> }>;
      users: Array<{ name: string; user: Record<string, string> }>;
      "current-context": string;
    };
    expect(withToken.clusters[0]?.cluster).toEqual({
      server: "https://127.0.0.1:1",
      "certificate-authority-data": "Q0E=",
    });
    expect(withToken.users).toEqual([{ name: "admin", user: { token: "t0k" } }]);
    expect(withToken["current-context"]).toBe("admin@apisnoop-rig");
    const withCert = load(
      kubeconfig("https://x", "Q0E=", "admin-cert", {
        clientCertificateData: "Y2VydA==",
        clientKeyData: "a2V5",
      }),
    ) as { users: Array<{ user: Record<string, string> }> };
    expect(withCert.users[0]?.user).toEqual({
      "client-certificate-data": "Y2VydA==",
      "client-key-data": "a2V5",
    });
  });

  it("reads back each user's token from the token file it writes", () => {
    const text = tokensCsv([
      { token: "aaa", user: "admin", groups: ["system:masters"] },
      { token: "bbb", user: "kubelet", groups: ["system:nodes", "system:authenticated"] },
    ]);
    expect(text).toBe(
      'aaa,admin,admin,"system:masters"\nbbb,kubelet,kubelet,"system:nodes,system:authenticated"\n',
    );
    expect(tokenOf(text, "kubelet")).toBe("bbb");
    expect(tokenOf(text, "nobody")).toBeUndefined();
  });
});

describe("rig PKI", () => {
  it("writes every file of the layout, the serving certificate naming the extra addresses", () => {
    const dir = mkdtempSync(join(tmpdir(), "rig-pki-"));
    try {
      const pki = generateRigPki(rigLayout(dir).pki, "10.0.0.1", ["10.77.0.2"]);
      for (const [name, path] of Object.entries(pki)) expect(existsSync(path), name).toBe(true);
      const serving = new X509Certificate(readFileSync(pki.servingCert));
      expect(serving.subjectAltName).toContain("IP Address:10.77.0.2");
      expect(serving.subjectAltName).toContain("IP Address:10.0.0.1");
      expect(serving.subjectAltName).toContain("DNS:kubernetes.default.svc");
      expect(serving.verify(new X509Certificate(readFileSync(pki.caCert)).publicKey)).toBe(true);
      // The front proxy's certificate comes from its own CA, not the rig CA every client certificate has.
      const frontProxy = new X509Certificate(readFileSync(pki.frontProxyClientCert));
      expect(frontProxy.subject).toBe("CN=front-proxy-client");
      expect(frontProxy.verify(new X509Certificate(readFileSync(pki.frontProxyCaCert)).publicKey)).toBe(true);
      expect(frontProxy.verify(new X509Certificate(readFileSync(pki.caCert)).publicKey)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
