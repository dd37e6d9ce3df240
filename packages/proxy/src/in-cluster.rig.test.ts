/**
 * The proxy in a pod, against the rig's real kube-apiserver: its service account (a token and the cluster
 * CA, laid out as the kubelet mounts them, under a path prefix since this machine is not a pod) and the
 * KUBERNETES_SERVICE_HOST/PORT the kubelet sets. The upstream and the live spec come from them without
 * client-node, and the token file is read again as it rotates.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRigState, rigToken } from "../../../tools/rig/rig";
import { SERVICE_ACCOUNT_DIR, serviceAccountFiles } from "./in-cluster";
import { SpecRefresher } from "./spec-refresher";
import { resolveUpstream, type Upstream } from "./upstream";

const prefix = mkdtempSync(path.join(tmpdir(), "apisnoop-in-cluster-rig-"));
const files = serviceAccountFiles(prefix);
const saved = {
  host: process.env.KUBERNETES_SERVICE_HOST,
  port: process.env.KUBERNETES_SERVICE_PORT,
  kubeconfig: process.env.KUBECONFIG,
  home: process.env.HOME,
};

beforeAll(() => {
  const state = readRigState();
  mkdirSync(`${prefix}${SERVICE_ACCOUNT_DIR}`, { recursive: true });
  copyFileSync(state.caFile, files.ca);
  writeFileSync(files.token, rigToken("admin"));
  const server = new URL(state.server);
  process.env.KUBERNETES_SERVICE_HOST = server.hostname;
  process.env.KUBERNETES_SERVICE_PORT = server.port;
  // As in a pod: no kubeconfig anywhere, so the service account is what is found.
  delete process.env.KUBECONFIG;
  process.env.HOME = path.join(prefix, "home-without-kube");
});

afterAll(() => {
  const restore = (key: string, value: string | undefined) => {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  };
  restore("KUBERNETES_SERVICE_HOST", saved.host);
  restore("KUBERNETES_SERVICE_PORT", saved.port);
  restore("KUBECONFIG", saved.kubeconfig);
  restore("HOME", saved.home);
  rmSync(prefix, { recursive: true, force: true });
});

/** Who the apiserver takes a request of the proxy's own to be (a SelfSubjectReview), or the HTTP status. */
async function whoAmI(upstream: Upstream): Promise<string> {
  const options: https.RequestOptions = {
    method: "POST",
    hostname: upstream.host,
    port: upstream.port,
    path: "/apis/authentication.k8s.io/v1/selfsubjectreviews",
    headers: { "content-type": "application/json", accept: "application/json" },
  };
  await upstream.authorize(options);
  return new Promise((resolve, reject) => {
    const request = https.request(options, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (text: string) => {
        body += text;
      });
      response.on("end", () => {
        if (response.statusCode !== 201) resolve(`HTTP ${response.statusCode}`);
        else
          resolve(
            (JSON.parse(body) as { status: { userInfo: { username: string } } }).status.userInfo.username,
          );
      });
    });
    request.on("error", reject);
    request.end(JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" }));
  });
}

describe("in a pod", () => {
  it("reaches the apiserver of KUBERNETES_SERVICE_HOST with the mounted CA and reads the live spec", async () => {
    const upstream = await resolveUpstream({ serviceAccountPrefix: prefix });
    const state = readRigState();
    expect(upstream.server).toBe(state.server);
    expect(upstream.clusterName).toBe("inCluster");
    expect(upstream.clientCertificate).toBeNull();
    const loaded: { operations: number; release: string | null }[] = [];
    const spec = new SpecRefresher({
      source: "live",
      upstream,
      intervalMs: 0,
      onLoaded: (load) => loaded.push(load),
    });
    try {
      await spec.start();
    } finally {
      spec.stop();
    }
    expect(loaded).toHaveLength(1);
    expect(loaded[0]?.operations).toBeGreaterThan(500);
    expect(loaded[0]?.release).toBe(state.kubeVersion.replace(/^v(\d+\.\d+)\..*$/, "$1"));
  });

  it("sends the rotated token once the one in hand is older than the refresh period", async () => {
    const upstream = await resolveUpstream({ serviceAccountPrefix: prefix, tokenMaxAgeMs: 500 });
    writeFileSync(files.token, rigToken("admin"));
    expect(await whoAmI(upstream)).toBe("admin");
    // The kubelet replaces the file: the next call past the period carries the new token.
    writeFileSync(files.token, rigToken("workload"));
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await whoAmI(upstream)).toBe("workload");
    // A file that cannot be read keeps the token in hand (client-go's rule) ...
    unlinkSync(files.token);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await whoAmI(upstream)).toBe("workload");
    // ... and a token the apiserver does not know is sent as it is: the apiserver refuses it.
    writeFileSync(files.token, "not-a-token-of-this-cluster");
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await whoAmI(upstream)).toBe("HTTP 401");
  });
});
