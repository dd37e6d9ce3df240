/**
 * Requests the apiserver takes as unauthenticated — anonymous ones, and those carrying a token it has
 * rejected — go upstream over a bounded HTTP/1.1 pool, not HTTP/2: kube-apiserver ends an HTTP/2
 * session after every such request (UnauthenticatedHTTP2DOSMitigation), so each would cost a session.
 * Against a local upstream that does the same, over real sockets: no session is opened for them, the
 * pool holds its socket bound, a full queue is answered 429 while authenticated clients are served, one
 * client address is held to its share while other addresses are served, bodies and watches never take
 * the pool, a remembered token gets its own answer when the pool is full, and a token the apiserver
 * accepts again goes back to HTTP/2. The sessions bodies and watches open one each are held to their
 * client address's turns (so many at once, so many a second, a bounded queue), and other addresses are
 * not delayed by them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import type http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import tls, { type TLSSocket } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunningProxy } from "./start-proxy";
import { EMPTY_SPEC, fakeApiserver, fakeApiserverKubeconfig, testProxies, writeProxyInputs } from "./testing";
import { DEFAULT_UPSTREAM_SESSION_LIMITS } from "./upstream-sessions";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-unauthenticated-test-"));
let upstream: http2.Http2SecureServer;
let kubeconfig: string;
let specFile: string;
const proxies = testProxies(() => ({ kubeconfig, spec: specFile, caDir: path.join(dir, "proxy-ca") }));
/** Tokens the upstream accepts; any other is answered 401. */
const accepted = new Set(["Bearer good"]);
/** Connections the upstream accepted, by protocol. */
const upstreamConnections = { h2: 0, "http/1.1": 0 };
/** Requests the upstream holds open until released (`/hold…`). */
const held: http2.Http2ServerResponse[] = [];
/** The most requests held at once since the last reset. */
let heldPeak = 0;
/** Requests the upstream received, and whether over HTTP/2. */
const seen: { method: string; url: string; h2: boolean }[] = [];

beforeAll(async () => {
  const apiserver = await fakeApiserver(dir, (req, res) => {
    // As kube-apiserver reads it: only `Bearer <token>` carries a token; any other Authorization is
    // ignored, and the request is anonymous (never a 401).
    const authorization = req.headers.authorization;
    const token =
      authorization !== undefined && /^bearer [^ ]/i.test(authorization) ? authorization : undefined;
    const authenticated = token !== undefined && accepted.has(token);
    seen.push({ method: req.method, url: req.url, h2: req.httpVersionMajor === 2 });
    if (token !== undefined && !authenticated) res.writeHead(401).end('{"code":401}');
    else if (req.url?.startsWith("/hold")) heldPeak = Math.max(heldPeak, held.push(res));
    else res.end('{"major":"1"}');
    // kube-apiserver's UnauthenticatedHTTP2DOSMitigation: an HTTP/2 session ends after any request it
    // takes as unauthenticated (anonymous or rejected).
    if (req.httpVersionMajor === 2 && !authenticated) req.stream.session?.close();
  });
  upstream = apiserver.server;
  upstream.on("secureConnection", (socket: TLSSocket) => {
    if (socket.alpnProtocol === "h2" || socket.alpnProtocol === "http/1.1")
      upstreamConnections[socket.alpnProtocol]++;
  });
  // The proxy's own credential is a token: a request without one reaches the upstream anonymous.
  ({ kubeconfig, spec: specFile } = writeProxyInputs(
    dir,
    fakeApiserverKubeconfig(apiserver.url, apiserver.caPem, { token: "good" }),
    EMPTY_SPEC,
  ));
});

afterEach(() => {
  for (const res of held.splice(0)) res.end("{}");
});

afterAll(async () => {
  await proxies.closeAll();
  await new Promise((resolve) => upstream.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

/** One line of the proxy's metrics (`name` with its labels), 0 when absent. */
function metric(proxy: RunningProxy, line: string): number {
  const found = proxy.metrics
    .render()
    .split("\n")
    .find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

/**
 * A GET through the proxy over HTTP/1.1 (no pooling), from `from` (a loopback address, as another client
 * pod; default 127.0.0.1); resolves with the status.
 */
function get(proxy: RunningProxy, urlPath: string, authorization?: string, from?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        servername: "localhost",
        localAddress: from,
        port: new URL(proxy.url).port,
        path: urlPath,
        ca: proxy.ca.certificatePem,
        headers: authorization !== undefined ? { authorization } : {},
        agent: false,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** A GET through the proxy on an HTTP/2 session; resolves with the status. */
function get2(session: http2.ClientHttp2Session, urlPath: string, authorization?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": urlPath, ...(authorization ? { authorization } : {}) });
    let status = 0;
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.on("end", () => resolve(status));
    stream.on("error", reject);
    stream.resume();
  });
}

function connect2(proxy: RunningProxy): http2.ClientHttp2Session {
  const session = http2.connect(`https://localhost:${new URL(proxy.url).port}`, {
    ca: proxy.ca.certificatePem,
  });
  session.on("error", () => {});
  return session;
}

/**
 * A request through the proxy over HTTP/1.1 from `from` whose head is sent and that is left open: a POST
 * that announces a body and never sends it, or a watch. Destroyed in `afterEach`.
 */
function leaveOpen(
  proxy: RunningProxy,
  from: string,
  method: string,
  urlPath: string,
  authorization?: string,
): Promise<number> {
  const req = https.request({
    host: "127.0.0.1",
    servername: "localhost",
    localAddress: from,
    port: new URL(proxy.url).port,
    method,
    path: urlPath,
    ca: proxy.ca.certificatePem,
    headers: {
      ...(method === "POST" ? { "content-type": "application/json", "content-length": "100" } : {}),
      ...(authorization !== undefined ? { authorization } : {}),
    },
    agent: false,
  });
  open.push(req);
  if (method === "POST") req.flushHeaders();
  else req.end();
  return new Promise((resolve) => {
    req.on("error", () => resolve(0));
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
  });
}

const open: http.ClientRequest[] = [];

afterEach(() => {
  for (const req of open.splice(0)) req.destroy();
});

/**
 * An anonymous POST with a small body through the proxy over HTTP/1.1 from `from`; its status, 0 if the
 * request failed. The request is destroyed in `afterEach`.
 */
function post(
  proxy: RunningProxy,
  from: string,
  urlPath: string,
): { status: Promise<number>; req: http.ClientRequest } {
  const req = https.request({
    host: "127.0.0.1",
    servername: "localhost",
    localAddress: from,
    port: new URL(proxy.url).port,
    method: "POST",
    path: urlPath,
    ca: proxy.ca.certificatePem,
    headers: { "content-type": "application/json" },
    agent: false,
  });
  open.push(req);
  req.end('{"kind":"ConfigMap"}');
  const status = new Promise<number>((resolve) => {
    req.on("error", () => resolve(0));
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
  });
  return { status, req };
}

/** Turns of bodies and watches opening a session each, with room for every one these tests hold. */
const ROOMY_SESSIONS_ALONE = { ...DEFAULT_UPSTREAM_SESSION_LIMITS.sessionsAlone, perAddress: 16 };
const SESSIONS_OPENED = "apisnoop_proxy_upstream_sessions_opened_total";
const ALONE_WAITING = "apisnoop_proxy_upstream_sessions_alone_waiting";
const UNAUTHENTICATED = "apisnoop_proxy_upstream_unauthenticated_requests_total";

describe("requests the apiserver takes as unauthenticated", () => {
  it("go over the HTTP/1.1 pool, within its socket bound, and open no upstream session", async () => {
    const proxy = await proxies.start({
      upstreamSessions: {
        unauthenticatedPool: { sockets: 2, queued: 64, socketsPerAddress: 2, queuedPerAddress: 64 },
      },
    });
    const h2Before = upstreamConnections.h2;
    const h1Before = upstreamConnections["http/1.1"];
    const session = connect2(proxy);
    try {
      // 40 anonymous requests at once, half over HTTP/2 streams of one client session, half over HTTP/1.1.
      const statuses = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? get2(session, "/version") : get(proxy, "/version"))),
      );
      expect(statuses).toEqual(Array(40).fill(200));
    } finally {
      session.close();
    }
    expect(metric(proxy, SESSIONS_OPENED)).toBe(0);
    expect(upstreamConnections.h2 - h2Before).toBe(0);
    expect(metric(proxy, UNAUTHENTICATED)).toBe(40);
    // Kept alive and shared: never more connections than the pool's sockets.
    expect(upstreamConnections["http/1.1"] - h1Before).toBeLessThanOrEqual(2);
    // An authenticated client still goes over HTTP/2.
    expect(await get(proxy, "/version", "Bearer good")).toBe(200);
    expect(metric(proxy, SESSIONS_OPENED)).toBe(1);
  });

  it("take a token over HTTP/1.1 once it was answered 401, and over HTTP/2 again once it is accepted", async () => {
    const proxy = await proxies.start();
    const token = "Bearer later";
    expect(await get(proxy, "/version", token)).toBe(401);
    expect(metric(proxy, SESSIONS_OPENED)).toBe(1);
    expect(metric(proxy, "apisnoop_proxy_upstream_rejected_credentials")).toBe(1);
    // Ten more with the rejected token: each answered 401 as before, none costing a session.
    for (let i = 0; i < 10; i++) expect(await get(proxy, "/version", token)).toBe(401);
    expect(metric(proxy, SESSIONS_OPENED)).toBe(1);
    expect(metric(proxy, UNAUTHENTICATED)).toBe(10);
    // The apiserver accepts it now (a token reviewer that was down, a token just created): the first
    // answer that is not 401 takes it back to HTTP/2.
    accepted.add(token);
    try {
      expect(await get(proxy, "/version", token)).toBe(200);
      expect(metric(proxy, "apisnoop_proxy_upstream_rejected_credentials")).toBe(0);
      expect(await get(proxy, "/version", token)).toBe(200);
      expect(metric(proxy, UNAUTHENTICATED)).toBe(11);
      expect(metric(proxy, SESSIONS_OPENED)).toBe(2);
    } finally {
      accepted.delete(token);
    }
  });

  it("are answered 429 past the pool's queue, while authenticated clients are served", async () => {
    const proxy = await proxies.start({
      upstreamSessions: {
        unauthenticatedPool: { sockets: 2, queued: 2, socketsPerAddress: 2, queuedPerAddress: 3 },
      },
    });
    // Two on the pool's connections, held by the upstream, and two waiting for one.
    const waiting = Array.from({ length: 4 }, () => get(proxy, "/hold"));
    await expect.poll(() => held.length).toBe(2);
    await expect
      .poll(() => metric(proxy, "apisnoop_proxy_upstream_unauthenticated_queued"), { timeout: 5000 })
      .toBe(2);
    expect(metric(proxy, "apisnoop_proxy_upstream_unauthenticated_active")).toBe(2);
    expect(await get(proxy, "/version")).toBe(429);
    expect(
      metric(proxy, 'apisnoop_proxy_refused_requests_total{reason="unauthenticated upstream queue"}'),
    ).toBe(1);
    expect(await get(proxy, "/version", "Bearer good")).toBe(200);
    // Released, the queue moves on and the pool serves again.
    for (const res of held.splice(0)) res.end("{}");
    await expect.poll(() => held.length).toBe(2);
    for (const res of held.splice(0)) res.end("{}");
    expect(await Promise.all(waiting)).toEqual([200, 200, 200, 200]);
    expect(await get(proxy, "/version")).toBe(200);
  });

  it("hold one client address to its share of the pool, so that other addresses are served", async () => {
    // A share of one connection and one queue place each.
    const proxy = await proxies.start({
      upstreamSessions: { unauthenticatedPool: { sockets: 2, queued: 2 } },
    });
    const hog = "127.0.0.2";
    const hogs = Array.from({ length: 4 }, () => get(proxy, "/hold", undefined, hog));
    await expect.poll(() => held.length).toBe(1);
    await expect.poll(() => metric(proxy, "apisnoop_proxy_upstream_unauthenticated_queued")).toBe(1);
    // Its two others are refused; another address gets the connection left.
    expect(await get(proxy, "/version", undefined, "127.0.0.3")).toBe(200);
    expect(
      metric(
        proxy,
        'apisnoop_proxy_refused_requests_total{reason="unauthenticated upstream queue per address"}',
      ),
    ).toBe(2);
    held.shift()?.end("{}");
    await expect.poll(() => held.length).toBe(1);
    held.shift()?.end("{}");
    expect((await Promise.all(hogs)).sort()).toEqual([200, 200, 429, 429]);
  });

  it("never hold a pool connection with a body or a watch: those go over HTTP/2", async () => {
    // Every place of the pool is one address's to take: only what goes over it can hold it.
    const proxy = await proxies.start({
      upstreamSessions: {
        unauthenticatedPool: { sockets: 2, queued: 2, socketsPerAddress: 2, queuedPerAddress: 2 },
        sessionsAlone: ROOMY_SESSIONS_ALONE,
      },
    });
    const hog = "127.0.0.2";
    // A token the apiserver rejected, and accepts again: its watches must not hold the pool either.
    const token = "Bearer recovered";
    expect(await get(proxy, "/version", token, hog)).toBe(401);
    expect(metric(proxy, "apisnoop_proxy_upstream_rejected_credentials")).toBe(1);
    accepted.add(token);
    try {
      seen.length = 0;
      // One at a time: the apiserver ends an anonymous request's HTTP/2 session after it, and refuses
      // a stream racing it there. Anonymous POSTs that announce a body and never send it reach the
      // apiserver, which answers without reading it (kube-apiserver's 403).
      for (let i = 0; i < 4; i++) {
        const answered = leaveOpen(proxy, hog, "POST", "/api/v1/namespaces/default/configmaps");
        await expect.poll(() => seen.filter((request) => request.method === "POST").length).toBe(i + 1);
        expect(await answered).toBe(200);
      }
      // Anonymous watches, a followed log, the token's watches.
      const watches = [
        ...Array.from({ length: 4 }, () => ["/hold?watch=1", undefined] as const),
        ["/hold/api/v1/namespaces/default/pods/p/log?follow=true", undefined] as const,
        ...Array.from({ length: 3 }, () => ["/hold?watch=true", token] as const),
      ];
      for (const [i, [urlPath, authorization]] of watches.entries()) {
        leaveOpen(proxy, hog, "GET", urlPath, authorization);
        await expect.poll(() => held.length, { timeout: 5000 }).toBe(i + 1);
      }
      expect(metric(proxy, "apisnoop_proxy_upstream_unauthenticated_active")).toBe(0);
      expect(metric(proxy, "apisnoop_proxy_upstream_unauthenticated_queued")).toBe(0);
      expect(seen.filter((request) => request.url.startsWith("/hold")).every((request) => request.h2)).toBe(
        true,
      );
      // Another client's anonymous request is served at once.
      expect(await get(proxy, "/version", undefined, "127.0.0.3")).toBe(200);
      // Only that one went over the pool.
      expect(metric(proxy, UNAUTHENTICATED)).toBe(1);
      // The token's answers over HTTP/2 tell it is accepted again.
      for (const res of held.splice(5)) res.end("{}");
      await expect.poll(() => metric(proxy, "apisnoop_proxy_upstream_rejected_credentials")).toBe(0);
    } finally {
      accepted.delete(token);
    }
  });

  it("give a remembered token its own answer when the pool is full, over HTTP/2, never a 429", async () => {
    const proxy = await proxies.start({
      upstreamSessions: {
        unauthenticatedPool: { sockets: 1, queued: 1, socketsPerAddress: 1, queuedPerAddress: 1 },
      },
    });
    const token = "Bearer back";
    expect(await get(proxy, "/version", token)).toBe(401);
    const waiting = [get(proxy, "/hold"), get(proxy, "/hold")];
    await expect.poll(() => metric(proxy, "apisnoop_proxy_upstream_unauthenticated_queued")).toBe(1);
    // Anonymous: the proxy's 429. The token, accepted by now: the apiserver's answer.
    expect(await get(proxy, "/version")).toBe(429);
    expect(await get(proxy, "/version", token)).toBe(401);
    accepted.add(token);
    try {
      expect(await get(proxy, "/version", token)).toBe(200);
    } finally {
      accepted.delete(token);
    }
    expect(metric(proxy, "apisnoop_proxy_upstream_unauthenticated_overflows_total")).toBe(2);
    held.shift()?.end("{}");
    await expect.poll(() => held.length).toBe(1);
    held.shift()?.end("{}");
    expect(await Promise.all(waiting)).toEqual([200, 200]);
  });

  it("take an Authorization the apiserver ignores as anonymous: over the pool, no session each", async () => {
    const proxy = await proxies.start();
    // Not `Bearer <token>`: the apiserver serves them as anonymous (never 401), and over HTTP/2 would
    // end the session after each.
    const ignored = ["x", "Basic dXNlcjpwYXNzd29yZA==", "Bearer", "Bearer  two-spaces", "bearer\tx", ""];
    for (let i = 0; i < 10; i++) expect(await get(proxy, "/version", ignored[i % ignored.length])).toBe(200);
    expect(metric(proxy, SESSIONS_OPENED)).toBe(0);
    expect(metric(proxy, UNAUTHENTICATED)).toBe(10);
    // A token, in any case of its scheme, is still the apiserver's to judge, over HTTP/2.
    expect(await get(proxy, "/version", "bearer good")).toBe(401);
    expect(await get(proxy, "/version", "Bearer good")).toBe(200);
    expect(metric(proxy, SESSIONS_OPENED)).toBe(2);
  });

  it("give each body or watch that may not take the pool an HTTP/2 session of its own", async () => {
    const proxy = await proxies.start({ upstreamSessions: { sessionsAlone: ROOMY_SESSIONS_ALONE } });
    // At once: on one session, the apiserver would answer the first and refuse the others (GOAWAY).
    const answered = [
      ...Array.from({ length: 4 }, () => leaveOpen(proxy, "127.0.0.2", "GET", "/hold?watch=1")),
      ...Array.from({ length: 2 }, () => leaveOpen(proxy, "127.0.0.2", "POST", "/hold")),
    ];
    await expect.poll(() => held.length, { timeout: 5000 }).toBe(6);
    expect(metric(proxy, SESSIONS_OPENED)).toBe(6);
    for (const res of held.splice(0)) res.end("{}");
    expect(await Promise.all(answered)).toEqual([200, 200, 200, 200, 200, 200]);
    // Each closes once its request is done.
    await expect.poll(() => metric(proxy, "apisnoop_proxy_upstream_sessions")).toBe(0);
  });

  it("open sessions alone at most so many at once per client address, and answer every request", async () => {
    const proxy = await proxies.start({
      upstreamSessions: { sessionsAlone: { perAddress: 4, ratePerAddress: 0, queuedPerAddress: 64 } },
    });
    heldPeak = 0;
    // 40 anonymous POSTs with bodies, multiplexed on one HTTP/2 connection from one address: the
    // apiserver would end a shared session after the first, so each needs a session (a TLS handshake).
    const session = http2.connect(`https://localhost:${new URL(proxy.url).port}`, {
      createConnection: () =>
        tls.connect({
          socket: net.connect({
            host: "127.0.0.1",
            port: Number(new URL(proxy.url).port),
            localAddress: "127.0.0.2",
          }),
          servername: "localhost",
          ca: proxy.ca.certificatePem,
          ALPNProtocols: ["h2"],
        }),
    });
    session.on("error", () => {});
    try {
      const answered = Array.from({ length: 40 }, () => {
        const stream = session.request({
          ":method": "POST",
          ":path": "/hold",
          "content-type": "application/json",
        });
        stream.end('{"kind":"ConfigMap"}');
        return new Promise<number>((resolve) => {
          let status = 0;
          stream.on("response", (headers) => {
            status = Number(headers[":status"]);
          });
          stream.on("close", () => resolve(status));
          stream.resume();
        });
      });
      await expect
        .poll(() => [held.length, metric(proxy, ALONE_WAITING)], { timeout: 5000 })
        .toEqual([4, 36]);
      expect(metric(proxy, SESSIONS_OPENED)).toBe(4);
      // Another address's request does not wait behind that queue.
      expect(await post(proxy, "127.0.0.3", "/version").status).toBe(200);
      expect(metric(proxy, SESSIONS_OPENED)).toBe(5);
      // Each answer head ends a turn, and the next request in the queue takes it.
      for (let left = 40; left > 0; left--) {
        await expect
          .poll(() => [held.length, metric(proxy, ALONE_WAITING)], { timeout: 5000 })
          .toEqual([Math.min(4, left), Math.max(0, left - 4)]);
        held.shift()?.end("{}");
      }
      expect(await Promise.all(answered)).toEqual(Array(40).fill(200));
    } finally {
      session.close();
    }
    expect(heldPeak).toBe(4);
    expect(metric(proxy, SESSIONS_OPENED)).toBe(41);
    expect(metric(proxy, "apisnoop_proxy_upstream_errors_total")).toBe(0);
  });

  it("open sessions alone at most so many a second per client address, others not delayed", async () => {
    // The rate's clock stands still until the test moves it.
    let now = 0;
    const timers: (() => void)[] = [];
    const proxy = await proxies.start({
      upstreamSessions: {
        sessionsAlone: {
          perAddress: 8,
          ratePerAddress: 2,
          queuedPerAddress: 64,
          now: () => now,
          later: (run) => timers.push(run),
        },
      },
    });
    const answered = Array.from({ length: 6 }, () => post(proxy, "127.0.0.2", "/version").status);
    // A second's worth at once, then the rest wait for the rate.
    await expect.poll(() => metric(proxy, ALONE_WAITING), { timeout: 5000 }).toBe(4);
    expect(metric(proxy, SESSIONS_OPENED)).toBe(2);
    expect(metric(proxy, "apisnoop_proxy_upstream_sessions_alone_rate_delays_total")).toBe(1);
    // Another address has a rate of its own.
    expect(await post(proxy, "127.0.0.3", "/version").status).toBe(200);
    expect(metric(proxy, SESSIONS_OPENED)).toBe(3);
    // Half a second gives the address one more start (the timers also forget an idle address's rate).
    for (let waiting = 4; waiting > 0; waiting--) {
      expect(metric(proxy, ALONE_WAITING)).toBe(waiting);
      now += 500;
      for (const run of timers.splice(0)) run();
      await expect.poll(() => metric(proxy, SESSIONS_OPENED), { timeout: 5000 }).toBe(8 - waiting);
    }
    expect(metric(proxy, ALONE_WAITING)).toBe(0);
    expect(await Promise.all(answered)).toEqual(Array(6).fill(200));
  });

  it("answer 429 past an address's queue for sessions alone, and drop a waiting client that leaves", async () => {
    const proxy = await proxies.start({
      upstreamSessions: { sessionsAlone: { perAddress: 1, ratePerAddress: 0, queuedPerAddress: 2 } },
    });
    const first = post(proxy, "127.0.0.2", "/hold");
    await expect.poll(() => held.length, { timeout: 5000 }).toBe(1);
    const waiting = [post(proxy, "127.0.0.2", "/hold"), post(proxy, "127.0.0.2", "/hold")];
    await expect.poll(() => metric(proxy, ALONE_WAITING), { timeout: 5000 }).toBe(2);
    const refused = post(proxy, "127.0.0.2", "/hold");
    expect(await refused.status).toBe(429);
    expect(
      metric(
        proxy,
        'apisnoop_proxy_refused_requests_total{reason="unauthenticated upstream sessions per address"}',
      ),
    ).toBe(1);
    // A client that goes away while waiting takes its request out of the queue.
    waiting[0]?.req.destroy();
    await expect.poll(() => metric(proxy, ALONE_WAITING), { timeout: 5000 }).toBe(1);
    held.shift()?.end("{}");
    expect(await first.status).toBe(200);
    await expect.poll(() => held.length, { timeout: 5000 }).toBe(1);
    held.shift()?.end("{}");
    expect(await waiting[1]?.status).toBe(200);
    expect(metric(proxy, SESSIONS_OPENED)).toBe(2);
  });
});
