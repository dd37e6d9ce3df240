/**
 * HTTP/2 through the proxy against the rig's real kube-apiserver: clients keep the protocol they speak to
 * the apiserver (kubectl h2; client-node, whose fetch speaks HTTP/1.1 only, HTTP/1.1), a watch over h2
 * delivers events within 100 ms of a direct h2 watch, and 50 concurrent requests of one credential share
 * one upstream connection.
 */
import { spawn } from "node:child_process";
import http2 from "node:http2";
import tls from "node:tls";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRigState, rigKubeconfigPath, rigToken } from "../../../tools/rig/rig";
import { type RigProxy, startRigProxy } from "../../../tools/rig-proxy/rig-proxy";

let rig: RigProxy;
const ns = `proxy-http2-${Date.now().toString(36)}`;

beforeAll(async () => {
  rig = await startRigProxy("admin");
});

afterAll(async () => {
  await rig?.close();
});

/** Requests by client and upstream protocol so far, from the proxy's metrics. */
function byProtocol(client: "h1" | "h2", upstream: "h1" | "h2" = "h2"): number {
  const line = new RegExp(
    `apisnoop_proxy_requests_by_protocol_total\\{client="${client}",upstream="${upstream}"\\} (\\d+)`,
  );
  return Number(line.exec(rig.proxy.metrics.render())?.[1] ?? 0);
}

function kubectl(kubeconfig: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("kubectl", ["--kubeconfig", kubeconfig, ...args], { timeout: 30_000 });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl exited ${code}`))));
  });
}

/** What the rig's apiserver negotiates with a client offering h2 and http/1.1, as kubectl does. */
function apiserverAlpn(): Promise<string | false | null> {
  const server = new URL(readRigState().server);
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      {
        host: server.hostname,
        port: Number(server.port),
        ALPNProtocols: ["h2", "http/1.1"],
        rejectUnauthorized: false,
      },
      () => {
        resolve(socket.alpnProtocol);
        socket.destroy();
      },
    );
    socket.on("error", reject);
  });
}

/** An h2 session to `url` as the rig's workload user. */
function session(url: string, ca?: string): http2.ClientHttp2Session {
  return http2.connect(url, ca ? { ca } : { rejectUnauthorized: false });
}

function get(client: http2.ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = client.request({ ":path": path, authorization: `Bearer ${rigToken("workload")}` });
    let status = 0;
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.resume();
    stream.on("end", () => resolve(status));
    stream.on("error", reject);
  });
}

describe("HTTP/2 through the proxy", () => {
  it("kubectl negotiates h2 with the proxy in both modes, as with the apiserver; the proxy speaks h2 upstream", async () => {
    expect(await apiserverAlpn()).toBe("h2");
    for (const mode of ["reverse", "forward"] as const) {
      const before = byProtocol("h2");
      await kubectl(rig.kubeconfig("admin", mode), ["get", "namespaces", "-o", "name"]);
      await kubectl(rig.kubeconfig("admin", mode), ["get", "configmaps", "-A", "-o", "name"]);
      // Discovery, then the two lists: every call over h2 on both sides.
      expect(byProtocol("h2") - before).toBeGreaterThanOrEqual(2);
    }
    expect(byProtocol("h2", "h1")).toBe(0);
  });

  it("client-node keeps HTTP/1.1, as it speaks to the apiserver", async () => {
    const before = byProtocol("h1");
    const kc = new KubeConfig();
    kc.loadFromFile(rig.kubeconfig("workload", "reverse"));
    await kc.makeApiClient(CoreV1Api).listNamespacedConfigMap({ namespace: "default" });
    expect(byProtocol("h1") - before).toBe(1);
  });

  it("delivers a watch's events over h2 within 100 ms of a direct h2 watch", async () => {
    const direct = session(readRigState().server);
    const proxied = session(rig.proxy.url, rig.proxy.ca.certificatePem);
    const admin = new KubeConfig();
    admin.loadFromFile(rigKubeconfigPath("admin"));
    const core = admin.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const arrivals: Record<"direct" | "proxied", number | null> = { direct: null, proxied: null };
    const watch = (which: "direct" | "proxied", client: http2.ClientHttp2Session) => {
      const stream = client.request({
        ":path": `/api/v1/namespaces/${ns}/configmaps?watch=true`,
        authorization: `Bearer ${rigToken("admin")}`,
      });
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        if (arrivals[which] === null && chunk.includes('"watched"')) arrivals[which] = performance.now();
      });
      return new Promise<http2.ClientHttp2Stream>((resolve) =>
        stream.once("response", () => resolve(stream)),
      );
    };
    const streams = await Promise.all([watch("direct", direct), watch("proxied", proxied)]);
    try {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "watched" } } });
      const deadline = Date.now() + 10_000;
      while ((arrivals.direct === null || arrivals.proxied === null) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(arrivals.direct).not.toBeNull();
      expect(arrivals.proxied).not.toBeNull();
      expect((arrivals.proxied ?? 0) - (arrivals.direct ?? 0)).toBeLessThan(100);
    } finally {
      for (const stream of streams) stream.close();
      direct.close();
      proxied.close();
      await core.deleteNamespace({ name: ns }).catch(() => {});
    }
  });

  it("carries 50 concurrent requests of one client on one upstream connection", async () => {
    const client = session(rig.proxy.url, rig.proxy.ca.certificatePem);
    await get(client, "/api"); // the workload credential's session is open from here on
    const opened = rig.proxy.metrics.upstreamSessions?.stats().opened ?? 0;
    const before = byProtocol("h2");
    const statuses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        get(client, `/api/v1/namespaces/default/configmaps?limit=${i + 1}`),
      ),
    );
    expect(statuses).toEqual(Array(50).fill(200));
    expect(byProtocol("h2") - before).toBe(50);
    expect(rig.proxy.metrics.upstreamSessions?.stats().opened).toBe(opened);
    client.close();
  });
});
