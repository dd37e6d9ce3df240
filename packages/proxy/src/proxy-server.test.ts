/**
 * The proxy against a local HTTPS upstream (no rig): streaming, errors, big bodies, upgrades, forward
 * mode, client-certificate presentation, addon failures, the admin port and the no-secrets rule.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import type http from "node:http";
import https from "node:https";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import type { HitLine } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority } from "./certificate-authority";
import { type RunningProxy, startProxy } from "./start-proxy";
import { fakeApiserverKubeconfig, fakeSpec, readHitLines, writeProxyInputs } from "./testing";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-proxy-test-"));
const token = `test-token-${randomBytes(8).toString("hex")}`;
const hitsPath = path.join(dir, "hits.jsonl");
const logLines: string[] = [];

/** What the fake apiserver saw of each request. */
interface Seen {
  method: string;
  url: string;
  host: string | undefined;
  authorization: string | undefined;
  clientCertCN: string | null;
  bodySha: string;
  bodyLength: number;
}
const seen: Seen[] = [];
let upstream: https.Server;
/** Bytes the fake apiserver received on connections after it refused their protocol switch. */
let bytesAfterRefusal = 0;
let upstreamPort: number;
let proxy: RunningProxy;
let proxyCa: string;

const SPEC = fakeSpec({
  "/api/v1/namespaces/{namespace}/pods/{name}/exec": {
    post: {
      operationId: "connectCoreV1PostNamespacedPodExec",
      tags: ["core_v1"],
      "x-kubernetes-action": "connect",
    },
  },
});

function fakeApiserver(req: http.IncomingMessage, res: http.ServerResponse): void {
  const hash = createHash("sha256");
  let length = 0;
  req.on("data", (chunk: Buffer) => {
    hash.update(chunk);
    length += chunk.length;
  });
  req.on("end", () => {
    const peer = (req.socket as tls.TLSSocket).getPeerCertificate?.();
    const entry: Seen = {
      method: req.method ?? "",
      url: req.url ?? "",
      host: req.headers.host,
      authorization: req.headers.authorization,
      // The test's client certificate names its user in its SAN (the CA's leaves carry no host-like CN).
      clientCertCN: peer?.subjectaltname ? peer.subjectaltname.replace(/^DNS:/, "") : null,
      bodySha: hash.digest("hex"),
      bodyLength: length,
    };
    seen.push(entry);
    const url = new URL(req.url ?? "/", "https://x");
    if (url.searchParams.get("watch") === "quiet") {
      // A watch with nothing to say yet: only headers, the first event much later.
      res.writeHead(200, { "content-type": "application/json" });
      res.flushHeaders();
      setTimeout(() => res.end(`${JSON.stringify({ type: "ADDED", sent: Date.now() })}\n`), 1000);
      return;
    }
    if (url.searchParams.get("watch") === "true") {
      // A watch: headers and one event now, a second event later, then the end.
      res.writeHead(200, { "content-type": "application/json" });
      res.write(`${JSON.stringify({ type: "ADDED", sent: Date.now() })}\n`);
      setTimeout(() => {
        res.write(`${JSON.stringify({ type: "MODIFIED", sent: Date.now() })}\n`);
        setTimeout(() => res.end(), 100);
      }, 300);
      return;
    }
    if (url.pathname === "/big") {
      // 20 MiB in 64 KiB chunks, honouring back-pressure.
      res.writeHead(200, { "content-type": "application/octet-stream", "x-sha": bigBodySha });
      let sent = 0;
      const pump = () => {
        while (sent < bigBody.length) {
          const chunk = bigBody.subarray(sent, sent + 65536);
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
      return;
    }
    if (url.pathname === "/status/409") {
      res.writeHead(409, [
        "Content-Type",
        "application/json",
        "Warning",
        '299 - "a"',
        "Warning",
        '299 - "b"',
      ]);
      res.end('{"kind":"Status","code":409}');
      return;
    }
    const body = JSON.stringify(entry);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
}

const bigBody = randomBytes(20 * 1024 * 1024);
const bigBodySha = createHash("sha256").update(bigBody).digest("hex");

beforeAll(async () => {
  // The fake apiserver's own CA and serving cert, unrelated to the proxy's CA.
  const upstreamCa = await CertificateAuthority.open(path.join(dir, "upstream-ca"));
  const serving = await upstreamCa.leafFor(["127.0.0.1"]);
  const clientLeaf = await upstreamCa.leafFor(["admin-cert"]);
  upstream = https.createServer(
    { key: serving.key, cert: serving.cert, requestCert: true, rejectUnauthorized: false },
    fakeApiserver,
  );
  upstream.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    seen.push({
      method: req.method ?? "",
      url: req.url ?? "",
      host: req.headers.host,
      authorization: req.headers.authorization,
      clientCertCN: null,
      bodySha: "",
      bodyLength: 0,
    });
    const refusal = /\/pods\/(forbidden|chunked)\//.exec(req.url ?? "")?.[1];
    if (refusal) {
      // An apiserver that does not switch answers an ordinary response and keeps reading HTTP: whatever
      // the client sends next on the connection would be its next request.
      const status = '{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}';
      socket.write(
        refusal === "forbidden"
          ? `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${status.length}\r\n\r\n${status}`
          : `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${status.length.toString(16)}\r\n${status}\r\n0\r\n\r\n`,
      );
      socket.on("data", (chunk: Buffer) => {
        bytesAfterRefusal += chunk.length;
      });
      return;
    }
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\n\r\n`,
    );
    if (head.length) socket.write(head);
    socket.pipe(socket); // echo
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  upstreamPort = (upstream.address() as AddressInfo).port;

  const inputs = writeProxyInputs(
    dir,
    fakeApiserverKubeconfig(
      `https://127.0.0.1:${upstreamPort}`,
      upstreamCa.certificatePem,
      clientLeaf,
      "fake",
    ),
    SPEC,
  );
  proxy = await startProxy({
    kubeconfig: inputs.kubeconfig,
    listen: { host: "127.0.0.1", port: 0 },
    adminListen: { host: "127.0.0.1", port: 0 },
    spec: inputs.spec,
    out: hitsPath,
    caDir: path.join(dir, "proxy-ca"),
    log: (line) => logLines.push(line),
  });
  proxyCa = proxy.ca.certificatePem;
  sharedAgent = new https.Agent({ ca: proxyCa, keepAlive: true });
});

afterAll(async () => {
  sharedAgent?.destroy();
  await proxy?.close();
  upstream?.closeAllConnections();
  upstream?.close();
});

/** Keep-alive client agent trusting the proxy's CA (made once the proxy exists). */
let sharedAgent: https.Agent;

/** A request to the proxy in reverse mode; resolves with status, headers and the whole body. */
function request(
  method: string,
  urlPath: string,
  options: { body?: Buffer; headers?: Record<string, string>; agent?: https.Agent } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const url = new URL(urlPath, proxy.url);
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        agent: options.agent ?? sharedAgent,
        headers: { authorization: `Bearer ${token}`, "user-agent": "proxy-test/1.0", ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** A TLS connection to the proxy in reverse mode, for raw HTTP/1.1; `received` is all it got, as text. */
async function rawConnection(): Promise<{ socket: tls.TLSSocket; received: () => string }> {
  const socket = tls.connect({
    host: "127.0.0.1",
    port: Number(new URL(proxy.url).port),
    ca: proxyCa,
    servername: "localhost",
  });
  await new Promise((resolve) => socket.once("secureConnect", resolve));
  let text = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    text += chunk;
  });
  return { socket, received: () => text };
}

async function readHits(atLeast: number): Promise<HitLine[]> {
  for (let i = 0; i < 100; i++) {
    const hits = readHitLines(hitsPath);
    if (hits.length >= atLeast) return hits;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("hits.jsonl did not catch up");
}

describe("the proxy in front of a local HTTPS upstream", () => {
  it("forwards method, path, query, body and the bearer token; Host is the upstream's", async () => {
    const { status, body } = await request(
      "POST",
      "/api/v1/namespaces/default/configmaps?fieldManager=t&secret=x",
      {
        body: Buffer.from('{"kind":"ConfigMap"}'),
        headers: { "content-type": "application/json" },
      },
    );
    expect(status).toBe(200);
    const echoed = JSON.parse(body.toString()) as Seen;
    expect(echoed).toMatchObject({
      method: "POST",
      url: "/api/v1/namespaces/default/configmaps?fieldManager=t&secret=x",
      host: `127.0.0.1:${upstreamPort}`,
      authorization: `Bearer ${token}`,
      clientCertCN: null, // the client brought its own credential: the proxy's certificate stays out of it
      bodyLength: 20,
    });
    const hits = await readHits(1);
    expect(hits.at(-1)).toMatchObject({
      method: "POST",
      path: "/api/v1/namespaces/default/configmaps",
      query: "fieldManager=t",
      status: 200,
      operationId: "createCoreV1NamespacedConfigMap",
      userAgent: "proxy-test/1.0",
    });
  });

  it("counts hits under the kubeconfig's cluster, and the run an X-Apisnoop-Run header names", async () => {
    expect(proxy.place).toEqual({ cluster: "fake", run: null });
    const before = (await readHits(0)).length;
    await request("GET", "/api/v1/namespaces/runs/configmaps", { headers: { "x-apisnoop-run": "pr-42" } });
    await request("GET", "/api/v1/namespaces/plain/configmaps");
    const hits = await readHits(before + 2);
    const of = (namespace: string) =>
      hits.find((hit) => hit.path === `/api/v1/namespaces/${namespace}/configmaps`);
    expect(of("runs")?.source).toMatchObject({ cluster: "fake", run: "pr-42" });
    expect(of("plain")?.source).toMatchObject({ cluster: "fake" });
    expect(of("plain")?.source?.run).toBeUndefined();
  });

  it("presents the kubeconfig's client certificate upstream for clients without a token", async () => {
    const { body } = await request("GET", "/api/v1/namespaces/a/configmaps", {
      headers: { authorization: "" },
    });
    expect(JSON.parse(body.toString())).toMatchObject({ clientCertCN: "admin-cert", authorization: "" });
  });

  it("passes upstream errors through as sent, repeated headers included", async () => {
    const { status, headers, body } = await request("GET", "/status/409");
    expect(status).toBe(409);
    expect(headers.warning).toBe('299 - "a", 299 - "b"');
    expect(body.toString()).toBe('{"kind":"Status","code":409}');
  });

  it("streams a watch: each event reaches the client when the upstream sends it", async () => {
    const arrivals = await new Promise<{ lagMs: number; type: string }[]>((resolve, reject) => {
      const out: { lagMs: number; type: string }[] = [];
      const req = https.request(
        new URL("/api/v1/namespaces/default/configmaps?watch=true", proxy.url),
        { agent: sharedAgent, headers: { authorization: `Bearer ${token}` } },
        (res) => {
          let buffered = "";
          res.setEncoding("utf8");
          res.on("data", (text: string) => {
            buffered += text;
            for (let nl = buffered.indexOf("\n"); nl !== -1; nl = buffered.indexOf("\n")) {
              const event = JSON.parse(buffered.slice(0, nl)) as { type: string; sent: number };
              buffered = buffered.slice(nl + 1);
              out.push({ type: event.type, lagMs: Date.now() - event.sent });
            }
          });
          res.on("end", () => resolve(out));
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(arrivals.map((a) => a.type)).toEqual(["ADDED", "MODIFIED"]);
    for (const arrival of arrivals) expect(arrival.lagMs).toBeLessThan(100);
  });

  it("sends a watch's headers at once, before its first event (client-go and client-node wait for them)", async () => {
    const started = Date.now();
    const headersAfterMs = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        new URL("/api/v1/namespaces/default/configmaps?watch=quiet", proxy.url),
        { agent: sharedAgent, headers: { authorization: `Bearer ${token}` } },
        (res) => {
          resolve(Date.now() - started);
          res.resume();
        },
      );
      req.on("error", reject);
      req.end();
    });
    expect(headersAfterMs).toBeLessThan(500);
  });

  it("passes a 3 MiB request body and a 20 MiB response intact", async () => {
    const upload = randomBytes(3 * 1024 * 1024);
    const { body } = await request("POST", "/api/v1/namespaces/default/configmaps", { body: upload });
    expect(JSON.parse(body.toString())).toMatchObject({
      bodyLength: upload.length,
      bodySha: createHash("sha256").update(upload).digest("hex"),
    });
    const big = await request("GET", "/big");
    expect(big.body.length).toBe(bigBody.length);
    expect(createHash("sha256").update(big.body).digest("hex")).toBe(bigBodySha);
  });

  it("answers a Kubernetes Status 502 when the upstream cannot be reached", async () => {
    const dead = await startProxy({
      kubeconfig: path.join(dir, "kubeconfig-dead"),
      listen: { host: "127.0.0.1", port: 0 },
      adminListen: null,
      spec: path.join(dir, "spec.json"),
      caDir: path.join(dir, "proxy-ca"),
    }).catch((error: Error) => error);
    expect(dead).toBeInstanceOf(Error); // no such kubeconfig: a one-line start-up error
    // An upstream port with nothing behind it.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    const kubeconfig = readFileSync(path.join(dir, "kubeconfig"), "utf8").replace(
      `:${upstreamPort}`,
      `:${port}`,
    );
    writeFileSync(path.join(dir, "kubeconfig-dead"), kubeconfig);
    const proxyToNowhere = await startProxy({
      kubeconfig: path.join(dir, "kubeconfig-dead"),
      listen: { host: "127.0.0.1", port: 0 },
      adminListen: null,
      spec: path.join(dir, "spec.json"),
      caDir: path.join(dir, "proxy-ca"),
    });
    try {
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = https.request(
          new URL("/api/v1/namespaces", proxyToNowhere.url),
          { ca: proxyCa },
          (res) => {
            let body = "";
            res.on("data", (chunk) => {
              body += chunk;
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        req.end();
      });
      expect(answer.status).toBe(502);
      expect(JSON.parse(answer.body)).toMatchObject({
        kind: "Status",
        status: "Failure",
        reason: "BadGateway",
        code: 502,
      });
      expect(proxyToNowhere.metrics.upstreamErrors).toBe(1);
      // Pod attribution where pods cannot be listed: required, the start fails in one line; in-cluster
      // default ("if allowed"), the proxy serves without it and says why.
      const options = {
        kubeconfig: path.join(dir, "kubeconfig-dead"),
        listen: { host: "127.0.0.1", port: 0 },
        adminListen: null,
        spec: path.join(dir, "spec.json"),
        caDir: path.join(dir, "proxy-ca"),
      };
      const required = await startProxy({ ...options, pods: "informer" }).catch((error: Error) => error);
      expect(String(required)).toMatch(/^Error: cannot list pods: /);
      const lines: string[] = [];
      const optional = await startProxy({
        ...options,
        pods: "informer-if-allowed",
        log: (l) => lines.push(l),
      });
      await optional.close();
      expect(lines.filter((line) => line.startsWith("pod attribution off: cannot list pods"))).toHaveLength(
        1,
      );
    } finally {
      await proxyToNowhere.close();
    }
  });

  it("tunnels an upgrade (SPDY) as raw bytes both ways", async () => {
    const { socket, received } = await rawConnection();
    socket.write(
      `POST /api/v1/namespaces/default/pods/p/exec?command=ls&stdout=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n`,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    socket.write("ping-through-tunnel");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received().endsWith("ping-through-tunnel")).toBe(true);
    socket.end();
    const hits = await readHits(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const exec = (await readHits(hits.length)).find((hit) => hit.path.endsWith("/exec"));
    expect(exec).toMatchObject({
      status: 101,
      operationId: "connectCoreV1PostNamespacedPodExec",
      query: "command&stdout=true", // exec's command: its presence only, never what it said
    });
  });

  it("answers an upgrade the upstream refuses (no 101) as an ordinary response, counts it and closes", async () => {
    for (const pod of ["forbidden", "chunked"]) {
      const { socket, received } = await rawConnection();
      socket.write(
        `POST /api/v1/namespaces/default/pods/${pod}/exec?command=ls HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n`,
      );
      socket.on("data", () => {
        // The client goes on as if the connection were still HTTP (or a tunnel): nothing of it may reach
        // the apiserver unseen.
        if (received().includes('"code":403}'))
          socket.write("GET /api/v1/secrets HTTP/1.1\r\nHost: x\r\n\r\n");
      });
      await new Promise((resolve) => socket.once("close", resolve));
      const [head = "", body] = received().split("\r\n\r\n");
      expect(head, pod).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(head.toLowerCase(), pod).toContain("connection: close");
      expect(head.toLowerCase(), pod).not.toContain("transfer-encoding");
      expect(head.toLowerCase(), pod).not.toContain("upgrade:");
      expect(JSON.parse(body ?? "")).toMatchObject({ kind: "Status", code: 403 });
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(bytesAfterRefusal).toBe(0);
    const hits = await readHits(1);
    const refused = hits.filter((hit) => /pods\/(forbidden|chunked)\/exec$/.test(hit.path));
    expect(refused).toHaveLength(2);
    for (const hit of refused)
      expect(hit).toMatchObject({ status: 403, operationId: "connectCoreV1PostNamespacedPodExec" });
  });

  it("refuses a protocol switch that declares a body, before the upstream sees it", async () => {
    const before = seen.length;
    const { socket, received } = await rawConnection();
    socket.write(
      `POST /api/v1/namespaces/default/pods/p/exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 5\r\n\r\nhello`,
    );
    await new Promise((resolve) => socket.once("close", resolve));
    expect(received()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(received()).toContain('"reason":"BadRequest"');
    expect(seen.length).toBe(before);
  });

  it("intercepts CONNECT to the upstream in forward mode, with a leaf the proxy's CA signed", async () => {
    const port = Number(new URL(proxy.url).port);
    const raw = net.connect(port, "127.0.0.1");
    raw.write(`CONNECT 127.0.0.1:${upstreamPort} HTTP/1.1\r\nHost: 127.0.0.1:${upstreamPort}\r\n\r\n`);
    const established = await new Promise<string>((resolve) =>
      raw.once("data", (chunk) => resolve(chunk.toString())),
    );
    expect(established).toMatch(/^HTTP\/1\.1 200/);
    const forwardAgent = new https.Agent({ ca: proxyCa });
    // Reuse the tunnelled socket for one request.
    forwardAgent.createConnection = () =>
      tls.connect({ socket: raw, ca: proxyCa, servername: undefined, host: "127.0.0.1" });
    const { status, body } = await request("GET", `/api/v1/namespaces/fwd/configmaps?limit=1`, {
      agent: forwardAgent,
    });
    expect(status).toBe(200);
    expect(JSON.parse(body.toString())).toMatchObject({
      url: "/api/v1/namespaces/fwd/configmaps?limit=1",
      authorization: `Bearer ${token}`,
    });
  });

  it("never fails a request because an addon failed; it counts the failure", async () => {
    const flaky = await startProxy({
      kubeconfig: path.join(dir, "kubeconfig"),
      listen: { host: "127.0.0.1", port: 0 },
      adminListen: null,
      spec: path.join(dir, "spec.json"),
      caDir: path.join(dir, "proxy-ca"),
      addons: () => [
        {
          name: "explodes",
          request() {
            throw new Error("request hook failed");
          },
          response() {
            throw new Error("response hook failed");
          },
          done() {
            throw new Error("done hook failed");
          },
        },
      ],
    });
    try {
      const answer = await new Promise<number>((resolve, reject) => {
        const req = https.request(
          new URL("/api/v1/namespaces/x/configmaps", flaky.url),
          { ca: proxyCa },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
        req.end();
      });
      expect(answer).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(flaky.metrics.analysisFailureTotal).toBe(3);
      expect(flaky.metrics.render()).toContain(
        'apisnoop_proxy_analysis_failures_total{addon="explodes",hook="done"} 1',
      );
    } finally {
      await flaky.close();
    }
  });

  it("without field analysis (--body-cap 0) still names the subresource and the watch of each hit", async () => {
    const out = path.join(dir, "hits-no-bodies.jsonl");
    const bare = await startProxy({
      kubeconfig: path.join(dir, "kubeconfig"),
      listen: { host: "127.0.0.1", port: 0 },
      adminListen: null,
      spec: path.join(dir, "spec.json"),
      caDir: path.join(dir, "proxy-ca"),
      out,
      bodyCap: 0,
    });
    try {
      for (const target of [
        "/api/v1/namespaces/default/pods/p/exec?command=ls",
        "/api/v1/namespaces/w/configmaps?watch=true",
      ]) {
        await new Promise<void>((resolve, reject) => {
          const req = https.request(
            new URL(target, bare.url),
            { method: target.includes("exec") ? "POST" : "GET", ca: proxyCa },
            (res) => {
              res.resume();
              res.on("end", resolve);
            },
          );
          req.on("error", reject);
          req.end();
        });
      }
    } finally {
      await bare.close();
    }
    const hits = readFileSync(out, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as HitLine);
    expect(hits.map((hit) => [hit.operationId, hit.details, hit.requestFields, hit.responseFields])).toEqual([
      ["connectCoreV1PostNamespacedPodExec", ["subresource:exec"], undefined, undefined],
      ["listCoreV1NamespacedConfigMap", ["watch"], undefined, undefined],
    ]);
  });

  it("serves /healthz and /metrics on the admin port", async () => {
    const get = async (p: string) => {
      const res = await fetch(`${proxy.adminUrl}${p}`);
      return { status: res.status, text: await res.text() };
    };
    expect(await get("/healthz")).toEqual({ status: 200, text: "ok\n" });
    const metrics = await get("/metrics");
    expect(metrics.text).toMatch(
      /apisnoop_proxy_requests_total\{method="POST",code="200",matched="true"\} \d+/,
    );
    expect(metrics.text).toContain("apisnoop_proxy_spec_operations 3");
  });

  it("keeps the token out of hits.jsonl, the logs and the CA directory", async () => {
    await readHits(5);
    const files = [hitsPath];
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = path.join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(path.join(dir, "proxy-ca"));
    expect(files.length).toBeGreaterThan(3);
    for (const file of files) expect(readFileSync(file, "utf8"), file).not.toContain(token);
    expect(logLines.join("\n")).not.toContain(token);
    expect(readFileSync(hitsPath, "utf8")).not.toMatch(/authorization|bearer/i);
  });
});
