import { execFileSync } from "node:child_process";
import fs from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { MatchResult } from "@apisnoop/openapi";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import type { HitLine } from "@apisnoop/protocol";
import { CertificateAuthority } from "./certificate-authority";
import { createFlow, type Flow, type FlowRequest } from "./flow";
import { type SpecSnapshot, specSnapshot } from "./spec-snapshot";
import { type ProxyOptions, type RunningProxy, startProxy } from "./start-proxy";
import type { Upstream } from "./upstream";

/** A flow as the proxy would hand it to addons, for unit tests without sockets. */
export function fakeFlow(request: Partial<FlowRequest> = {}, rest: Partial<Flow> = {}): Flow {
  return {
    ...createFlow(
      "reverse",
      { method: "GET", url: "/api/v1/namespaces", userAgent: "kubectl/v1.34.0", upgrade: false, ...request },
      null,
      Date.parse("2026-01-02T03:04:05.678Z"),
    ),
    ...rest,
  };
}

const snapshots = new Map<string, SpecSnapshot>();

/** The snapshot of one release's real spec from `../shared/k8s` (compiled once per test file). */
export function sharedSnapshot(release: string): SpecSnapshot {
  let snapshot = snapshots.get(release);
  if (!snapshot) {
    snapshot = specSnapshot(sharedCatalog(release));
    snapshots.set(release, snapshot);
  }
  return snapshot;
}

/** A fake flow on `spec`, matched as the match-operation addon would match it. */
export function matchedFlow(
  spec: SpecSnapshot,
  request: Partial<FlowRequest> = {},
  rest: Partial<Flow> = {},
): Flow {
  const flow = fakeFlow(request, { spec, ...rest });
  flow.match = spec.matcher.match(flow.request.method, flow.request.url);
  return flow;
}

/** A match result for flows that need one but no spec: `operationId` on a stand-in endpoint. */
export function fakeMatch(operationId: string | null, more: Partial<MatchResult> = {}): MatchResult {
  const endpoint =
    operationId === null
      ? null
      : {
          operationId,
          method: "GET",
          path: "/",
          level: "stable" as const,
          category: "core",
          group: null,
          version: null,
          kind: null,
          action: null,
          description: null,
          deprecated: false,
          watchOperation: false,
          requestBodyRef: null,
          responseRefs: {},
        };
  return { endpoint, operationId, watch: false, ...more };
}

/** A real file system of `bytes` bytes (tmpfs), to meet ENOSPC as a full disk gives it. */
export interface SmallDisk {
  dir: string;
  /** Writes a file that takes all the room left. */
  fill(): void;
  /** Removes what `fill` wrote. */
  free(): void;
  unmount(): void;
}

/**
 * Mounts a tmpfs of `bytes` bytes at a new temporary directory; null where this process may not mount
 * (not root, or no CAP_SYS_ADMIN), so the caller can skip saying why.
 */
export function smallDisk(bytes: number): SmallDisk | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "small-disk-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${bytes},mode=0700`, "tmpfs", dir], { stdio: "pipe" });
  } catch {
    fs.rmdirSync(dir);
    return null;
  }
  const filler = path.join(dir, "filler");
  return {
    dir,
    fill() {
      const fd = fs.openSync(filler, "a");
      try {
        const chunk = Buffer.alloc(4096);
        for (;;) fs.writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
      } finally {
        fs.closeSync(fd);
      }
      // The last partial chunk may leave a few bytes: fill them byte by byte.
      const fd2 = fs.openSync(filler, "a");
      try {
        for (;;) fs.writeSync(fd2, Buffer.alloc(1));
      } catch {
        // full
      } finally {
        fs.closeSync(fd2);
      }
    },
    free() {
      fs.rmSync(filler, { force: true });
    },
    unmount() {
      execFileSync("umount", ["-l", dir], { stdio: "pipe" });
      fs.rmdirSync(dir);
    },
  };
}

/** How a fake apiserver's kubeconfig user authenticates: a bearer token, or a client certificate (PEM). */
export type FakeApiserverUser = { token: string } | { cert: string; key: string };

/**
 * The kubeconfig of a fake apiserver at `server` (`https://127.0.0.1:<port>`), trusting the CA whose
 * certificate is `caPem`: what the proxy's transport tests start the proxy with. `cluster` names its
 * cluster (and context), which the proxy takes as its hits' cluster.
 */
export function fakeApiserverKubeconfig(
  server: string,
  caPem: string,
  user: FakeApiserverUser,
  cluster = "c",
): string {
  const b64 = (text: string) => Buffer.from(text).toString("base64");
  const credentials =
    "token" in user
      ? `{token: ${user.token}}`
      : `{client-certificate-data: ${b64(user.cert)}, client-key-data: ${b64(user.key)}}`;
  return `apiVersion: v1
kind: Config
clusters: [{name: ${cluster}, cluster: {server: "${server}", certificate-authority-data: ${b64(caPem)}}}]
users: [{name: u, user: ${credentials}}]
contexts: [{name: ${cluster}, context: {cluster: ${cluster}, user: u}}]
current-context: ${cluster}
`;
}

/**
 * A Kubernetes swagger of a few operations for tests against a fake apiserver: ConfigMaps listed and
 * created in a namespace, and the paths in `more`. `fakeSpec({})` without ConfigMaps: use `EMPTY_SPEC`.
 */
export function fakeSpec(more: Record<string, unknown> = {}): object {
  return {
    swagger: "2.0",
    info: { title: "Kubernetes", version: "v1.34.0" },
    paths: {
      "/api/v1/namespaces/{namespace}/configmaps": {
        get: {
          operationId: "listCoreV1NamespacedConfigMap",
          tags: ["core_v1"],
          "x-kubernetes-action": "list",
        },
        post: {
          operationId: "createCoreV1NamespacedConfigMap",
          tags: ["core_v1"],
          "x-kubernetes-action": "post",
        },
      },
      ...more,
    },
  };
}

/** A swagger with no operation: every request is unknown to it. */
export const EMPTY_SPEC = { swagger: "2.0", info: { title: "Kubernetes", version: "v1.34.0" }, paths: {} };

/** Writes `kubeconfig` and `spec` into `dir` as `kubeconfig` and `spec.json`; returns their paths. */
export function writeProxyInputs(
  dir: string,
  kubeconfig: string,
  spec: object,
): { kubeconfig: string; spec: string } {
  const paths = { kubeconfig: path.join(dir, "kubeconfig"), spec: path.join(dir, "spec.json") };
  fs.writeFileSync(paths.kubeconfig, kubeconfig);
  fs.writeFileSync(paths.spec, JSON.stringify(spec));
  return paths;
}

/** The lines of a hits file, parsed (none while it does not exist yet). */
export function readHitLines(file: string): HitLine[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as HitLine);
}

/** What every proxy of a test file starts from: its fake apiserver's kubeconfig, a spec and a CA dir. */
export interface TestProxyInputs {
  kubeconfig: string;
  spec: string;
  caDir: string;
}

/**
 * The proxies a test file starts against its fake apiserver: each on a free loopback port with no admin
 * port, `options` on top of `inputs()` (read when a proxy starts, as the inputs are written in
 * `beforeAll`); `closeAll` (for `afterAll`) closes every one still open.
 */
export function testProxies(inputs: () => TestProxyInputs): {
  start(options?: Partial<ProxyOptions>): Promise<RunningProxy>;
  closeAll(): Promise<void>;
} {
  const started: RunningProxy[] = [];
  return {
    async start(options = {}) {
      const proxy = await startProxy({
        ...inputs(),
        listen: { host: "127.0.0.1", port: 0 },
        adminListen: null,
        ...options,
      });
      started.push(proxy);
      return proxy;
    },
    async closeAll() {
      await Promise.all(started.map((proxy) => proxy.close()));
    },
  };
}

/** A local stand-in for kube-apiserver: its server, `https://127.0.0.1:<port>`, and its CA's certificate. */
export interface FakeApiserver {
  server: http2.Http2SecureServer;
  url: string;
  caPem: string;
}

/**
 * Starts a TLS server on 127.0.0.1 that speaks HTTP/2 and HTTP/1.1 as kube-apiserver does, answering
 * with `handler`; its CA lives in `dir/upstream-ca`.
 */
export async function fakeApiserver(
  dir: string,
  handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
): Promise<FakeApiserver> {
  const ca = await CertificateAuthority.open(path.join(dir, "upstream-ca"));
  const serving = await ca.leafFor(["127.0.0.1"]);
  const server = http2.createSecureServer(
    { key: serving.key, cert: serving.cert, allowHTTP1: true },
    handler,
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url, caPem: ca.certificatePem };
}

/**
 * The {@link Upstream} of a local test server on 127.0.0.1:`port` whose certificate `caPem` signs; its
 * `authorize` adds the CA and a test token, as the proxy's own calls get them.
 */
export function localUpstream(port: number, caPem: string): Upstream {
  return {
    server: `https://127.0.0.1:${port}`,
    host: "127.0.0.1",
    port,
    authority: `127.0.0.1:${port}`,
    basePath: "",
    serverName: undefined,
    ca: Buffer.from(caPem),
    rejectUnauthorized: true,
    clientCertificate: null,
    clusterName: "test",
    authorize: async (options) => {
      options.ca = caPem;
      (options.headers as Record<string, string>).Authorization = "Bearer test-token";
    },
  };
}

/** A local HTTPS server standing in for the apiserver of the proxy's own calls (see {@link localApiserver}). */
export interface LocalApiserver {
  server: https.Server;
  /** Its {@link Upstream}, as {@link localUpstream} makes it. */
  upstream: Upstream;
  close(): Promise<void>;
}

/**
 * Starts an HTTPS (HTTP/1.1) server on 127.0.0.1 answering with `handler`; its CA lives in
 * `dir/local-apiserver-ca`.
 */
export async function localApiserver(
  dir: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<LocalApiserver> {
  const ca = await CertificateAuthority.open(path.join(dir, "local-apiserver-ca"));
  const leaf = await ca.leafFor(["127.0.0.1"]);
  const server = https.createServer({ key: leaf.key, cert: leaf.cert }, handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    upstream: localUpstream((server.address() as AddressInfo).port, ca.certificatePem),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A TCP server that accepts connections and never sends a byte, not even its side of the TLS handshake:
 * a balancer in front of a dead apiserver. Its `upstream` trusts `caPem`.
 */
export async function silentServer(caPem = ""): Promise<{
  upstream: Upstream;
  /** Connections open now. */
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    // Read (and drop) the ClientHello, so that the client's close is seen.
    socket.resume();
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    upstream: localUpstream((server.address() as AddressInfo).port, caPem),
    sockets,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
