import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import { proxiedKubeconfig } from "./proxied-kubeconfig";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-kc-"));
const from = path.join(dir, "config");
writeFileSync(
  from,
  `apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster: {server: "https://10.1.2.3:6443", certificate-authority-data: QUJD, tls-server-name: api.internal}
- name: other
  cluster: {server: "https://other:443"}
users:
- name: u1
  user: {client-certificate: certs/u1.crt, client-key: /abs/u1.key}
- name: u2
  user: {token: secret-token}
contexts:
- name: ctx1
  context: {cluster: c1, user: u1, namespace: team}
- name: ctx2
  context: {cluster: c1, user: u2}
current-context: ctx1
`,
);
interface Kubeconfig {
  "current-context": string;
  clusters: { name: string; cluster: Record<string, string> }[];
  users: { name: string; user: Record<string, string> }[];
  contexts: { name: string; context: Record<string, string> }[];
}

const caPem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

describe("proxiedKubeconfig", () => {
  it("reverse: server is the proxy, the CA is the proxy's, credentials kept (file paths made absolute)", () => {
    const out = load(
      proxiedKubeconfig({ from, proxyUrl: "https://127.0.0.1:8443", mode: "reverse", caPem }),
    ) as Kubeconfig;
    expect(out["current-context"]).toBe("ctx1");
    expect(out.clusters).toEqual([
      {
        name: "c1",
        cluster: {
          server: "https://127.0.0.1:8443",
          "certificate-authority-data": Buffer.from(caPem).toString("base64"),
        },
      },
    ]);
    expect(out.users).toEqual([
      {
        name: "u1",
        user: { "client-certificate": path.join(dir, "certs/u1.crt"), "client-key": "/abs/u1.key" },
      },
    ]);
    expect(out.contexts).toEqual([
      { name: "ctx1", context: { cluster: "c1", user: "u1", namespace: "team" } },
    ]);
  });

  it("forward: server and tls-server-name stay, proxy-url is the proxy's plain CONNECT port", () => {
    const out = load(
      proxiedKubeconfig({
        from,
        context: "ctx2",
        proxyUrl: "https://127.0.0.1:8443",
        mode: "forward",
        caPem,
      }),
    ) as Kubeconfig;
    expect(out.clusters[0]?.cluster).toEqual({
      server: "https://10.1.2.3:6443",
      "certificate-authority-data": Buffer.from(caPem).toString("base64"),
      "proxy-url": "http://127.0.0.1:8443",
      "tls-server-name": "api.internal",
    });
    expect(out.users).toEqual([{ name: "u2", user: { token: "secret-token" } }]);
  });

  it("fails with one line for an unknown context", () => {
    expect(() =>
      proxiedKubeconfig({ from, context: "nope", proxyUrl: "https://127.0.0.1:1", mode: "reverse", caPem }),
    ).toThrow(/has no context 'nope'/);
  });

  it("never quotes a kubeconfig it cannot parse, not even a tag of its text", () => {
    const broken = path.join(dir, "broken-kubeconfig");
    writeFileSync(broken, "users:\n- name: u\n  user:\n    token: !SUPERSECRET\n");
    let message = "";
    try {
      proxiedKubeconfig({ from: broken, proxyUrl: "https://127.0.0.1:1", mode: "reverse", caPem });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^cannot read kubeconfig .*: unknown scalar tag !<…> \(line 4, column \d+\)$/);
    expect(message).not.toContain("SUPERSECRET");
  });
});
