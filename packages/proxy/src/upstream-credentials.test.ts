import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { KubeconfigFile } from "./kubeconfig-file";
import { authorizer } from "./upstream-credentials";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-upstream-credentials-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(path.join(dir, "ca.crt"), "CA FILE\n");
writeFileSync(path.join(dir, "client.crt"), "CERT FILE\n");
writeFileSync(path.join(dir, "client.key"), "KEY FILE\n");
writeFileSync(path.join(dir, "sa-token"), "token-from-file");

/** One cluster and a context per kind of credential the light path applies itself. */
const file = path.join(dir, "config");
writeFileSync(
  file,
  `apiVersion: v1
kind: Config
current-context: token
clusters:
- name: files
  cluster: {server: "https://10.0.0.1:6443", certificate-authority: ca.crt, tls-server-name: api.internal}
- name: data
  cluster: {server: "https://api.example", certificate-authority-data: Q0EgREFUQQ==, insecure-skip-tls-verify: true}
users:
- name: token
  user: {token: literal-token}
- name: cert-files
  user: {client-certificate: client.crt, client-key: client.key}
- name: cert-data
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}
- name: token-file
  user: {auth-provider: {name: tokenFile, config: {tokenFile: ${path.join(dir, "sa-token")}}}}
- name: basic
  user: {username: alice, password: s3cret}
- name: exec
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: sh
      args: ["-c", "echo '{\\"apiVersion\\":\\"client.authentication.k8s.io/v1\\",\\"kind\\":\\"ExecCredential\\",\\"status\\":{\\"token\\":\\"token-from-exec\\"}}'"]
      interactiveMode: Never
contexts:
- {name: token, context: {cluster: files, user: token}}
- {name: cert-files, context: {cluster: files, user: cert-files}}
- {name: cert-data, context: {cluster: data, user: cert-data}}
- {name: token-file, context: {cluster: data, user: token-file}}
- {name: basic, context: {cluster: files, user: basic}}
- {name: exec, context: {cluster: files, user: exec}}
`,
);

/** The options a request ends up with: what was set, as plain values. */
function applied(options: https.RequestOptions): Record<string, unknown> {
  const plain = (value: unknown) => (Buffer.isBuffer(value) ? value.toString("utf8") : value);
  return Object.fromEntries(
    Object.entries(options)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => [key, plain(value)]),
  );
}

describe("authorizer", () => {
  it("sets what client-node's applyToHTTPSOptions sets, for every kind it applies without client-node", async () => {
    for (const context of ["token", "cert-files", "cert-data", "token-file", "basic"]) {
      const ours = KubeconfigFile.load(file);
      ours.setCurrentContext(context);
      const theirs = new KubeConfig();
      theirs.loadFromFile(file);
      theirs.setCurrentContext(context);
      const cluster = ours.getCurrentCluster();
      if (!cluster) throw new Error(`no cluster in context ${context}`);
      const authorize = authorizer(cluster, ours.getCurrentUser(), () => {
        throw new Error("client-node loaded for a credential the light path applies");
      });
      const mine: https.RequestOptions = { method: "GET", headers: { accept: "application/json" } };
      const reference: https.RequestOptions = { method: "GET", headers: { accept: "application/json" } };
      await authorize(mine);
      await theirs.applyToHTTPSOptions(reference);
      // client-node also builds an agent of the same TLS settings; the request itself carries them here.
      const { agent: _agent, ...expected } = applied(reference);
      expect({ context, ...applied(mine) }).toEqual({ context, ...expected });
    }
  });

  it("hands an exec plugin to client-node's KubeConfig, loaded only then", async () => {
    const ours = KubeconfigFile.load(file);
    ours.setCurrentContext("exec");
    let loads = 0;
    const cluster = ours.getCurrentCluster();
    if (!cluster) throw new Error("no cluster in context exec");
    const authorize = authorizer(cluster, ours.getCurrentUser(), async () => {
      loads++;
      const config = new KubeConfig();
      config.loadFromFile(file);
      config.setCurrentContext("exec");
      return config;
    });
    expect(loads).toBe(0);
    const options: https.RequestOptions = {};
    await authorize(options);
    expect(loads).toBe(1);
    expect(options.headers).toMatchObject({ Authorization: "Bearer token-from-exec" });
  });
});
