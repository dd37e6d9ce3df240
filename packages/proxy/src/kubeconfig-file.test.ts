import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { KubeconfigFile } from "./kubeconfig-file";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-kubeconfig-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Two contexts, relative and absolute file paths, inline data, skip-verify and tls-server-name. */
const KUBECONFIG = `apiVersion: v1
kind: Config
current-context: files
clusters:
- name: by-files
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority: certs/ca.crt
    tls-server-name: api.internal
- name: by-data
  cluster:
    server: https://api.example:443
    certificate-authority-data: Q0EgREFUQQ==
    insecure-skip-tls-verify: true
users:
- name: cert-files
  user:
    client-certificate: certs/client.crt
    client-key: /etc/keys/client.key
- name: cert-data
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
    token: not-a-real-token
contexts:
- name: files
  context: {cluster: by-files, user: cert-files}
- name: data
  context: {cluster: by-data, user: cert-data, namespace: ops}
`;

describe("KubeconfigFile", () => {
  it("selects the same cluster and user as client-node's KubeConfig, in every context", () => {
    const file = write("config", KUBECONFIG);
    for (const context of [undefined, "files", "data"]) {
      const ours = KubeconfigFile.load(file);
      const theirs = new KubeConfig();
      theirs.loadFromFile(file);
      if (context) {
        ours.setCurrentContext(context);
        theirs.setCurrentContext(context);
      }
      expect(ours.getCurrentCluster()).toEqual(theirs.getCurrentCluster());
      expect(ours.getCurrentUser()).toEqual(theirs.getCurrentUser());
      expect(ours.getCurrentCluster()).not.toBeNull();
    }
    const files = KubeconfigFile.load(file);
    // Relative paths are the kubeconfig's folder's; the trailing slash of the server goes, as in client-node.
    expect(files.getCurrentCluster()).toMatchObject({
      server: "https://10.0.0.1:6443",
      caFile: path.join(dir, "certs/ca.crt"),
      tlsServerName: "api.internal",
      skipTLSVerify: false,
    });
    expect(files.getCurrentUser()).toMatchObject({
      certFile: path.join(dir, "certs/client.crt"),
      keyFile: "/etc/keys/client.key",
    });
  });

  it("knows only the contexts the file names, and has no cluster without a current context", () => {
    const file = write("no-current", KUBECONFIG.replace("current-context: files\n", ""));
    const config = KubeconfigFile.load(file);
    expect(config.getContextObject("data")).toMatchObject({ cluster: "by-data", user: "cert-data" });
    expect(config.getContextObject("elsewhere")).toBeNull();
    expect(config.getCurrentCluster()).toBeNull();
    expect(config.getCurrentUser()).toBeNull();
  });

  it("refuses what client-node refuses, with its message", () => {
    const file = write("broken", KUBECONFIG.replace("    server: https://api.example:443\n", ""));
    expect(() => new KubeConfig().loadFromFile(file)).toThrow("clusters[1].cluster.server is missing");
    expect(() => KubeconfigFile.load(file)).toThrow("clusters[1].cluster.server is missing");
    expect(() => KubeconfigFile.load(write("empty", ""))).toThrow();
    expect(() => KubeconfigFile.load(write("scalar", "just text\n"))).toThrow(/not a kubeconfig/);
    expect(() => KubeconfigFile.load(path.join(dir, "absent"))).toThrow(/ENOENT/);
  });
});
