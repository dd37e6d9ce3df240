/**
 * The proxy over HTTP/2, against a local upstream that speaks HTTP/2 and HTTP/1.1 as kube-apiserver does:
 * ALPN on the client side in both modes, one upstream session shared by a credential's concurrent
 * requests, watches streamed with their headers at once, back-pressure from a client that does not read,
 * bodies intact both ways, the 502 Status, the same hits as over HTTP/1.1, upgrades still over HTTP/1.1,
 * and the drain's GOAWAY.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import type { HitLine } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CertificateAuthority } from "./certificate-authority";
import { type RunningProxy, startProxy } from "./start-proxy";
import { fakeApiserverKubeconfig, fakeSpec, readHitLines, writeProxyInputs } from "./testing";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-http2-test-"));
const token = `test-token-${randomBytes(8).toString("hex")}`;
const hitsPath = path.join(dir, "hits.jsonl");
let upstream: http2.Http2SecureServer;
let proxy: RunningProxy;
/** TLS connections the upstream accepted, and the protocol of each request it served. */
let upstreamConnections = 0;
const upstreamProtocols: string[] = [];
/** Protocol switches the upstream accepted: HTTP version, negotiated ALPN and `Upgrade` header of each. */
const upstreamUpgrades: { httpVersion: string; alpn: string | false | null; upgrade: string | undefined }[] =
  [];
const upload = randomBytes(3 * 1024 * 1024);
/** The upstream's answer to `/big`, and how much of it the upstream has written so far. */
const big = randomBytes(32 * 1024 * 1024);
let bigSent = 0;
/** Watches get their first event once this resolves (from the watch test on). */
let releaseFirstEvent: () => void = () => {};
const firstEventReleased = new Promise<void>((resolve) => {
  releaseFirstEvent = resolve;
});
/** Watches whose upstream request has closed, by the value of their `labelSelector`. */
const upstreamWatchesClosed = new Set<string>();

beforeAll(async () => {
  const upstreamCa = await CertificateAuthority.open(path.join(dir, "upstream-ca"));
  const serving = await upstreamCa.leafFor(["127.0.0.1"]);
  upstream = http2.createSecureServer(
    { key: serving.key, cert: serving.cert, allowHTTP1: true },
    (req, res) => {
      upstreamProtocols.push(req.httpVersion);
      const url = new URL(req.url, "https://x");
      if (url.searchParams.get("watch") === "true") {
        // Headers at once (HTTP/2 sends them at writeHead), the first event when the test releases it,
        // then nothing until the client goes.
        res.writeHead(200, { "content-type": "application/json" });
        res.on("close", () => upstreamWatchesClosed.add(url.searchParams.get("labelSelector") ?? ""));
        void firstEventReleased.then(() => {
          if (!res.writableEnded) res.write('{"type":"ADDED","object":{"kind":"ConfigMap"}}\n');
        });
        return;
      }
      if (url.pathname === "/big") {
        // As fast as the proxy takes it: HTTP/2 flow control is all that holds it back.
        res.writeHead(200, { "content-type": "application/octet-stream" });
        const pump = () => {
          while (bigSent < big.length) {
            const chunk = big.subarray(bigSent, bigSent + 65536);
            bigSent += chunk.length;
            if (!res.write(chunk)) return void res.once("drain", pump);
          }
          res.end();
        };
        pump();
        return;
      }
      const delayMs = Number(url.searchParams.get("delayMs") ?? 0);
      const hash = createHash("sha256");
      let length = 0;
      req.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      req.on("end", () => {
        const body = JSON.stringify({
          kind: "ConfigMapList",
          items: [],
          seen: {
            url: req.url,
            authorization: req.headers.authorization ?? null,
            length,
            sha: hash.digest("hex"),
          },
        });
        setTimeout(() => {
          res.writeHead(200, {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
          });
          res.end(body);
        }, delayMs);
      });
    },
  );
  // An exec's protocol switch, as kube-apiserver answers it: 101, then the tunnel echoes what it gets.
  upstream.on("upgrade", (req: http.IncomingMessage, socket: Socket) => {
    upstreamUpgrades.push({
      httpVersion: req.httpVersion,
      alpn: (socket as tls.TLSSocket).alpnProtocol,
      upgrade: req.headers.upgrade,
    });
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade}\r\n\r\n`,
    );
    socket.pipe(socket);
  });
  upstream.on("secureConnection", () => upstreamConnections++);
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const port = (upstream.address() as AddressInfo).port;
  const inputs = writeProxyInputs(
    dir,
    fakeApiserverKubeconfig(`https://127.0.0.1:${port}`, upstreamCa.certificatePem, { token }),
    fakeSpec(),
  );
  proxy = await startProxy({
    kubeconfig: inputs.kubeconfig,
    listen: { host: "127.0.0.1", port: 0 },
    adminListen: null,
    spec: inputs.spec,
    out: hitsPath,
    caDir: path.join(dir, "proxy-ca"),
  });
});

afterAll(async () => {
  await proxy?.close();
  await new Promise((resolve) => upstream.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const proxyPort = () => Number(new URL(proxy.url).port);

/** An HTTP/2 client session to the proxy: reverse mode, or forward mode through a CONNECT tunnel. */
async function clientSession(mode: "reverse" | "forward" = "reverse"): Promise<http2.ClientHttp2Session> {
  const options = { ca: proxy.ca.certificatePem, servername: "localhost", ALPNProtocols: ["h2", "http/1.1"] };
  if (mode === "reverse") return http2.connect(`https://localhost:${proxyPort()}`, options);
  const upstreamAuthority = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const tunnel = await new Promise<Socket>((resolve, reject) => {
    const request = http.request({
      host: "127.0.0.1",
      port: proxyPort(),
      method: "CONNECT",
      path: upstreamAuthority,
    });
    request.on("connect", (_res, socket) => resolve(socket));
    request.on("error", reject);
    request.end();
  });
  return http2.connect(`https://${upstreamAuthority}`, {
    createConnection: () => tls.connect({ socket: tunnel, ...options, servername: undefined }),
  });
}

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: string;
}

function request(
  session: http2.ClientHttp2Session,
  pathname: string,
  options: { method?: string; body?: Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(
      {
        ":method": options.method ?? "GET",
        ":path": pathname,
        authorization: `Bearer ${token}`,
        "user-agent": "http2-test/1.0",
        ...(options.body ? { "content-type": "application/json" } : {}),
      },
      { endStream: !options.body },
    );
    let headers: http2.IncomingHttpHeaders = {};
    let body = "";
    stream.on("response", (h) => {
      headers = h;
    });
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      body += chunk;
    });
    stream.on("end", () => resolve({ status: Number(headers[":status"]), headers, body }));
    stream.on("error", reject);
    if (options.body) stream.end(options.body);
  });
}

function hits(): HitLine[] {
  return readHitLines(hitsPath);
}

describe("the proxy over HTTP/2", () => {
  it("negotiates h2 with clients in reverse and forward mode, and speaks h2 upstream", async () => {
    for (const mode of ["reverse", "forward"] as const) {
      const session = await clientSession(mode);
      const answer = await request(session, "/api/v1/namespaces/default/configmaps?limit=1");
      expect(session.alpnProtocol).toBe("h2");
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).seen).toMatchObject({
        url: "/api/v1/namespaces/default/configmaps?limit=1",
        authorization: `Bearer ${token}`,
      });
      session.close();
    }
    expect(upstreamProtocols.every((version) => version === "2.0")).toBe(true);
    await expect.poll(() => hits().length).toBe(2);
    expect(hits().map((hit) => [hit.operationId, hit.status, hit.userAgent])).toEqual([
      ["listCoreV1NamespacedConfigMap", 200, "http2-test/1.0"],
      ["listCoreV1NamespacedConfigMap", 200, "http2-test/1.0"],
    ]);
  });

  it("carries 50 concurrent requests of one credential on one upstream connection", async () => {
    const session = await clientSession();
    const connectionsBefore = upstreamConnections;
    const openedBefore = (proxy.metrics.upstreamSessions?.stats().opened ?? 0) as number;
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => request(session, `/api/v1/namespaces/n${i}/configmaps`)),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(50).fill(200));
    // The credential's session from the test before is reused: no new upstream connection at all.
    expect(upstreamConnections - connectionsBefore).toBeLessThanOrEqual(1);
    expect((proxy.metrics.upstreamSessions?.stats().opened ?? 0) - openedBefore).toBeLessThanOrEqual(1);
    expect(proxy.metrics.render()).toMatch(
      /apisnoop_proxy_requests_by_protocol_total\{client="h2",upstream="h2"\} \d+/,
    );
    session.close();
  });

  it("passes a 3 MiB request body intact over HTTP/2 both ways", async () => {
    const session = await clientSession();
    const answer = await request(session, "/api/v1/namespaces/default/configmaps", {
      method: "POST",
      body: upload,
    });
    expect(JSON.parse(answer.body).seen).toMatchObject({
      length: upload.length,
      sha: createHash("sha256").update(upload).digest("hex"),
    });
    session.close();
  });

  it("answers Expect and CONNECT itself, as Node's compatibility layer did, each with a Status", async () => {
    const session = await clientSession();
    const send = (headers: http2.OutgoingHttpHeaders, body?: string) =>
      new Promise<Answer & { informational: number[] }>((resolve, reject) => {
        const stream = session.request(
          { authorization: `Bearer ${token}`, ...headers },
          { endStream: body === undefined },
        );
        const informational: number[] = [];
        let answerHeaders: http2.IncomingHttpHeaders = {};
        let text = "";
        stream.on("headers", (h) => informational.push(Number(h[":status"])));
        stream.on("response", (h) => {
          answerHeaders = h;
        });
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => {
          text += chunk;
        });
        stream.on("end", () =>
          resolve({
            status: Number(answerHeaders[":status"]),
            headers: answerHeaders,
            body: text,
            informational,
          }),
        );
        stream.on("error", reject);
        if (body !== undefined) stream.end(body);
      });
    const refusedBefore = proxy.metrics.render();
    const continued = await send(
      { ":method": "POST", ":path": "/api/v1/namespaces/default/configmaps", expect: "100-continue" },
      "{}",
    );
    expect(continued.informational).toEqual([100]);
    expect(continued.status).toBe(200);
    expect(JSON.parse(continued.body).seen).toMatchObject({ length: 2 });
    const expectation = await send(
      { ":method": "POST", ":path": "/api/v1/namespaces/default/configmaps", expect: "a-pony" },
      "{}",
    );
    expect(expectation.status).toBe(417);
    expect(JSON.parse(expectation.body)).toMatchObject({
      kind: "Status",
      code: 417,
      reason: "ExpectationFailed",
    });
    const tunnel = await send({ ":method": "CONNECT", ":authority": "example.com:443" });
    expect(tunnel.status).toBe(405);
    expect(JSON.parse(tunnel.body)).toMatchObject({ kind: "Status", code: 405, reason: "MethodNotAllowed" });
    // The session outlives both refusals.
    expect((await request(session, "/api/v1/namespaces/default/configmaps")).status).toBe(200);
    expect(refusedBefore).not.toMatch(/reason="expectation"/);
    expect(proxy.metrics.render()).toMatch(/apisnoop_proxy_refused_requests_total\{reason="expectation"\} 1/);
    expect(proxy.metrics.render()).toMatch(
      /apisnoop_proxy_refused_requests_total\{reason="http2 connect"\} 1/,
    );
    session.close();
  });

  it("holds the upstream back while an HTTP/2 client does not read, and loses nothing", async () => {
    const session = await clientSession();
    const stream = session.request({ ":path": "/big", authorization: `Bearer ${token}` });
    stream.pause();
    await new Promise((resolve) => stream.once("response", resolve));
    // Until the upstream stops: nothing reads, so the windows fill (the client's 64 KiB, the proxy's
    // upstream stream window, the sockets' buffers) and the upstream's writes wait for a WINDOW_UPDATE.
    let last = -1;
    while (bigSent !== last) {
      last = bigSent;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // Without back-pressure the proxy would have taken all 32 MiB into memory by now.
    expect(bigSent).toBeLessThan(8 * 1024 * 1024);
    const hash = createHash("sha256");
    let length = 0;
    stream.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
    });
    stream.resume();
    await new Promise((resolve) => stream.once("end", resolve));
    expect(length).toBe(big.length);
    expect(hash.digest("hex")).toBe(createHash("sha256").update(big).digest("hex"));
    session.close();
  });

  it("sends a watch's headers at once and its events as they come", async () => {
    const session = await clientSession();
    const stream = session.request({
      ":path": "/api/v1/namespaces/default/configmaps?watch=true",
      authorization: `Bearer ${token}`,
    });
    let eventsBeforeHeaders = 0;
    stream.on("data", () => eventsBeforeHeaders++);
    // The upstream holds its first event until the client has the headers: they must come alone.
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) =>
      stream.once("response", resolve),
    );
    expect(headers[":status"]).toBe(200);
    expect(eventsBeforeHeaders).toBe(0);
    const event = new Promise<string>((resolve) =>
      stream.once("data", (chunk: Buffer) => resolve(`${chunk}`)),
    );
    releaseFirstEvent();
    expect(JSON.parse(await event)).toMatchObject({ type: "ADDED" });
    stream.close();
    session.close();
  });

  it.each([
    ["CANCEL", http2.constants.NGHTTP2_CANCEL],
    ["NO_ERROR", http2.constants.NGHTTP2_NO_ERROR],
  ])("ends the upstream watch when the client resets its stream with %s", async (name, code) => {
    const session = await clientSession();
    const stream = session.request({
      ":path": `/api/v1/namespaces/default/configmaps?watch=true&labelSelector=reset-${name}`,
      authorization: `Bearer ${token}`,
    });
    stream.on("error", () => {});
    await new Promise((resolve) => stream.once("data", resolve));
    // client-go resets a watch's stream when its context ends; the proxy must not leave the upstream
    // watch open (and uncounted) until the apiserver times it out.
    stream.close(code);
    await vi.waitFor(() => expect(upstreamWatchesClosed.has(`reset-${name}`)).toBe(true), {
      timeout: 5000,
    });
    session.close();
  });

  it("still serves HTTP/1.1 clients, over the HTTP/2 session upstream", async () => {
    const answer = await new Promise<{ status: number; body: string; alpn: string | false | null }>(
      (resolve, reject) => {
        const req = https.get(
          {
            host: "127.0.0.1",
            port: proxyPort(),
            servername: "localhost",
            path: "/api/v1/namespaces/default/configmaps",
            ca: proxy.ca.certificatePem,
            headers: { authorization: `Bearer ${token}` },
            agent: new https.Agent({ ALPNProtocols: ["http/1.1"] }),
          },
          (res) => {
            const alpn = (res.socket as tls.TLSSocket).alpnProtocol;
            let body = "";
            res.on("data", (chunk) => {
              body += chunk;
            });
            res.on("end", () =>
              resolve({
                status: res.statusCode ?? 0,
                body,
                alpn,
              }),
            );
          },
        );
        req.on("error", reject);
      },
    );
    expect(answer).toMatchObject({ status: 200, alpn: "http/1.1" });
    expect(upstreamProtocols.at(-1)).toBe("2.0");
  });

  it("keeps a protocol switch (exec over SPDY) on HTTP/1.1 at both ends, beside the HTTP/2 sessions", async () => {
    // As kubectl does for exec: an upgrade offers http/1.1 only, since HTTP/2 has no protocol switch.
    const socket = tls.connect({
      host: "127.0.0.1",
      port: proxyPort(),
      ca: proxy.ca.certificatePem,
      servername: "localhost",
      ALPNProtocols: ["http/1.1"],
    });
    await new Promise((resolve) => socket.once("secureConnect", resolve));
    expect(socket.alpnProtocol).toBe("http/1.1");
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => {
      received += text;
    });
    socket.write(
      `POST /api/v1/namespaces/default/pods/p/exec?command=ls&stdout=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n`,
    );
    await expect.poll(() => received).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    socket.write("ping-through-tunnel");
    await expect.poll(() => received.endsWith("\r\n\r\nping-through-tunnel")).toBe(true);
    socket.end();
    // The upstream speaks HTTP/2 to everyone who offers it; the proxy offered it http/1.1 only here.
    expect(upstreamUpgrades).toEqual([{ httpVersion: "1.1", alpn: "http/1.1", upgrade: "SPDY/3.1" }]);
    await expect.poll(() => hits().find((hit) => hit.path.endsWith("/exec"))?.status).toBe(101);
  });
});

describe("an HTTP/2 client when the upstream is down", () => {
  it("gets the same 502 Status as over HTTP/1.1", async () => {
    const downDir = mkdtempSync(path.join(dir, "down-"));
    // An upstream nothing listens on: its certificate is never checked.
    const inputs = writeProxyInputs(
      downDir,
      `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: ${token}}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`,
      fakeSpec(),
    );
    const down = await startProxy({
      kubeconfig: inputs.kubeconfig,
      listen: { host: "127.0.0.1", port: 0 },
      adminListen: null,
      spec: inputs.spec,
      caDir: path.join(dir, "proxy-ca"),
    });
    try {
      const session = http2.connect(`https://localhost:${new URL(down.url).port}`, {
        ca: down.ca.certificatePem,
      });
      const answer = await request(session, "/api/v1/namespaces");
      expect(answer.status).toBe(502);
      expect(JSON.parse(answer.body)).toMatchObject({ kind: "Status", reason: "BadGateway", code: 502 });
      session.close();
    } finally {
      await down.close();
    }
  });
});

describe("a drain with HTTP/2 clients", () => {
  it("sends the session a GOAWAY, finishes its requests and ends its watch between events", async () => {
    releaseFirstEvent();
    const draining = await startProxy({
      kubeconfig: path.join(dir, "kubeconfig"),
      listen: { host: "127.0.0.1", port: 0 },
      adminListen: null,
      spec: path.join(dir, "spec.json"),
      caDir: path.join(dir, "proxy-ca"),
    });
    try {
      const session = http2.connect(`https://localhost:${new URL(draining.url).port}`, {
        ca: draining.ca.certificatePem,
      });
      let goaway = false;
      session.on("goaway", () => {
        goaway = true;
      });
      session.on("error", () => {});
      const watch = session.request({
        ":path": "/api/v1/namespaces/default/configmaps?watch=true",
        authorization: `Bearer ${token}`,
      });
      let watchBody = "";
      watch.setEncoding("utf8");
      watch.on("data", (chunk: string) => {
        watchBody += chunk;
      });
      const watchEnd = new Promise<{ complete: boolean; error: string | null }>((resolve) => {
        watch.on("end", () => resolve({ complete: true, error: null }));
        watch.on("error", (error: NodeJS.ErrnoException) =>
          resolve({ complete: false, error: error.code ?? error.message }),
        );
      });
      // The watch has its first event: between events, the drain can end it there.
      await expect.poll(() => watchBody, { timeout: 20_000 }).not.toBe("");
      const slow = request(session, "/api/v1/namespaces/default/configmaps?delayMs=1500");
      while (draining.metrics.inFlight < 2) await new Promise((resolve) => setTimeout(resolve, 10));
      const summary = await draining.drain(20_000);
      expect(summary).toMatchObject({ inFlight: 2, watchesEnded: 1, watchesCut: 0, cut: 0 });
      expect((await slow).status).toBe(200);
      // As the apiserver ends a watch at its timeout: a complete response (END_STREAM), no reset.
      expect(await watchEnd).toEqual({ complete: true, error: null });
      expect(watchBody).toBe('{"type":"ADDED","object":{"kind":"ConfigMap"}}\n');
      expect(goaway).toBe(true);
      session.destroy();
    } finally {
      await draining.close();
    }
  });
});
