/**
 * A drain answers what clients send as it begins. A request can be on its way on a connection the proxy
 * holds with nothing in flight — a pooled keep-alive connection, an HTTP/2 session, a connection just
 * accepted — at the moment the drain starts; closing that connection then resets the request, and the
 * client cannot tell it from one the proxy took. Here each kind of client sends its request in the same
 * turn as the drain begins (the proxy reads it only after), over real sockets to a local upstream that
 * speaks HTTP/2 and HTTP/1.1 as kube-apiserver does: Node's https agent, undici's fetch and the real
 * client-node over HTTP/1.1, Node's http2 client over HTTP/2. Each gets its answer, and then the proxy
 * goes: `Connection: close` over HTTP/1.1, a GOAWAY that refuses no stream over HTTP/2.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { Agent, fetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DrainSummary } from "./proxy-server";
import type { RunningProxy } from "./start-proxy";
import { EMPTY_SPEC, fakeApiserver, fakeApiserverKubeconfig, testProxies, writeProxyInputs } from "./testing";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-drain-test-"));
const token = `test-token-${randomBytes(8).toString("hex")}`;
const LIST = '{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]}';
let upstream: http2.Http2SecureServer;
let kubeconfig: string;
let specFile: string;
/** The upstream's `host:port`: the one authority a CONNECT is decrypted for. */
let upstreamAuthority: string;
const proxies = testProxies(() => ({ kubeconfig, spec: specFile, caDir: path.join(dir, "proxy-ca") }));
/** A proxy on the fake apiserver with `options`; closed after the file's tests. */
const proxyWith = proxies.start;

beforeAll(async () => {
  const apiserver = await fakeApiserver(dir, (req, res) => {
    const url = new URL(req.url, "https://x");
    if (url.searchParams.get("watch") === "true") {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"type":"ADDED","object":{"kind":"ConfigMap"}}\n');
      return; // a watch: never ends by itself
    }
    setTimeout(
      () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(LIST);
      },
      Number(url.searchParams.get("delayMs") ?? 0),
    );
  });
  upstream = apiserver.server;
  upstreamAuthority = new URL(apiserver.url).host;
  ({ kubeconfig, spec: specFile } = writeProxyInputs(
    dir,
    fakeApiserverKubeconfig(apiserver.url, apiserver.caPem, { token }),
    EMPTY_SPEC,
  ));
});

afterAll(async () => {
  await proxies.closeAll();
  upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Drains and then closes, as `apisnoop proxy` does on SIGTERM. */
async function drainAndClose(proxy: RunningProxy): Promise<DrainSummary> {
  const summary = await proxy.drain(10_000);
  await proxy.close();
  return summary;
}

const PATH = "/api/v1/namespaces/default/configmaps";

/** What a client got: the status and `Connection` header, or its error's code. */
interface Answer {
  status: number | string;
  connection?: string | undefined;
  body?: string;
}

/** Until the proxy has nothing in flight (a response's end reaches the client before the proxy's 'close'). */
async function idle(proxy: RunningProxy): Promise<void> {
  while (proxy.metrics.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** A GET through `agent`; `onHead` is called when the response's head is in. */
function get(proxy: RunningProxy, agent: https.Agent, urlPath = PATH, onHead?: () => void): Promise<Answer> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: "localhost",
        port: new URL(proxy.url).port,
        path: urlPath,
        ca: proxy.ca.certificatePem,
        agent,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        onHead?.();
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }),
        );
        res.on("error", (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? error.message }));
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? error.message }));
    req.end();
  });
}

describe("a drain and HTTP/1.1 clients", () => {
  it("answers a request sent on a pooled idle connection as it begins, with Connection: close", async () => {
    const proxy = await proxyWith();
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect(await get(proxy, agent)).toMatchObject({ status: 200, connection: "keep-alive" });
      const pooled = Object.values(agent.freeSockets).flat()[0];
      expect(pooled).toBeDefined();
      await idle(proxy);
      // Written now, read by the proxy only after the drain has begun.
      const racing = get(proxy, agent);
      const drained = drainAndClose(proxy);
      expect(await racing).toEqual({ status: 200, connection: "close", body: LIST });
      // The client closed it after the answer, so the drain had no idle connection left to close.
      expect(await drained).toMatchObject({ inFlight: 0, idleClosed: 0, cut: 0 });
    } finally {
      agent.destroy();
    }
  });

  it("answers undici's fetch on its pooled connection as it begins", async () => {
    const proxy = await proxyWith();
    // One connection per origin: the second request waits for the first one's connection, and reuses it.
    const dispatcher = new Agent({ connections: 1, connect: { ca: proxy.ca.certificatePem } });
    const request = () =>
      fetch(`https://localhost:${new URL(proxy.url).port}${PATH}`, {
        dispatcher,
        headers: { authorization: `Bearer ${token}` },
      }).then(
        async (res) => ({
          status: res.status,
          connection: res.headers.get("connection"),
          body: await res.text(),
        }),
        (error: Error) => ({ status: `${error.message}: ${(error.cause as Error | undefined)?.message}` }),
      );
    try {
      expect(await request()).toMatchObject({ status: 200, connection: "keep-alive" });
      await idle(proxy);
      const racing = request();
      // undici writes the request on its pooled connection a turn later: drain once it has.
      await new Promise((resolve) => setImmediate(resolve));
      const drained = drainAndClose(proxy);
      expect(await racing).toEqual({ status: 200, connection: "close", body: LIST });
      expect(await drained).toMatchObject({ cut: 0 });
    } finally {
      await dispatcher.close();
    }
  });

  it("answers the first request of a connection it accepted just before", async () => {
    const proxy = await proxyWith();
    const socket = tls.connect({
      host: "127.0.0.1",
      port: Number(new URL(proxy.url).port),
      servername: "localhost",
      ca: proxy.ca.certificatePem,
      ALPNProtocols: ["http/1.1"],
    });
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("secureConnect", resolve));
    // The proxy has the connection (its handshake is done) and no request on it yet.
    while (proxy.metrics.connectionsOpen < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    let answer = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      answer += chunk;
    });
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.write(`GET ${PATH} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    const drained = drainAndClose(proxy);
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer).toMatch(/\r\nConnection: close\r\n/i);
    expect(answer).toContain(LIST);
    expect(await drained).toMatchObject({ idleClosed: 0, cut: 0 });
  });

  it("answers a CONNECT (forward mode) on a connection it accepted just before", async () => {
    const proxy = await proxyWith();
    const raw = net.connect(Number(new URL(proxy.url).port), "127.0.0.1");
    raw.on("error", () => {});
    await new Promise((resolve) => raw.once("connect", resolve));
    while (proxy.metrics.connectionsOpen < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    raw.write(`CONNECT ${upstreamAuthority} HTTP/1.1\r\nHost: ${upstreamAuthority}\r\n\r\n`);
    const drained = drainAndClose(proxy);
    const established = await new Promise<string>((resolve) => {
      raw.once("data", (chunk: Buffer) => resolve(chunk.toString()));
      raw.once("close", () => resolve("(closed)"));
    });
    expect(established).toMatch(/^HTTP\/1\.1 200 /);
    const socket = tls.connect({
      socket: raw,
      servername: "127.0.0.1",
      ca: proxy.ca.certificatePem,
      ALPNProtocols: ["http/1.1"],
    });
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("secureConnect", resolve));
    let answer = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      answer += chunk;
    });
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.write(
      `GET ${PATH} HTTP/1.1\r\nHost: ${upstreamAuthority}\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    );
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer).toMatch(/\r\nConnection: close\r\n/i);
    expect(answer).toContain(LIST);
    expect(await drained).toMatchObject({ cut: 0 });
  });

  it("answers client-node on a connection it accepted just before", async () => {
    const proxy = await proxyWith();
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        { name: "c", server: proxy.url, caData: Buffer.from(proxy.ca.certificatePem).toString("base64") },
      ],
      users: [{ name: "u", token }],
      contexts: [{ name: "c", cluster: "c", user: "u" }],
      currentContext: "c",
    });
    const api = kc.makeApiClient(CoreV1Api);
    const accepted = proxy.metrics.connectionsAccepted;
    const list = api.listNamespacedConfigMap({ namespace: "default" }).then(
      (result) => result.metadata?.resourceVersion,
      (error: Error) => `${error.message}: ${(error.cause as Error | undefined)?.message}`,
    );
    // client-node opens a connection of its own for each request: drain once the proxy has accepted it
    // (its TLS handshake may still be under way, its request not yet sent).
    while (proxy.metrics.connectionsAccepted === accepted)
      await new Promise((resolve) => setImmediate(resolve));
    const drained = drainAndClose(proxy);
    expect(await list).toBe("7");
    expect(await drained).toMatchObject({ cut: 0 });
  });

  it("keeps a watch's connection for the client's next request, answered with Connection: close", async () => {
    const proxy = await proxyWith();
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      let headIn: () => void = () => {};
      const head = new Promise<void>((resolve) => {
        headIn = resolve;
      });
      const watch = get(proxy, agent, `${PATH}?watch=true`, () => headIn());
      await head; // sent before the drain: keep-alive
      // The watch is ended once it has lasted a second, between two events: a complete response.
      const drained = drainAndClose(proxy);
      expect(await watch).toEqual({
        status: 200,
        connection: "keep-alive",
        body: '{"type":"ADDED","object":{"kind":"ConfigMap"}}\n',
      });
      // Its client sends its next request on the same connection at once; closed with the watch, that
      // request would be reset.
      expect(await get(proxy, agent)).toEqual({ status: 200, connection: "close", body: LIST });
      expect(await drained).toMatchObject({ inFlight: 1, watchesEnded: 1, idleClosed: 0, cut: 0 });
    } finally {
      agent.destroy();
    }
  });

  it("closes a connection still idle at the end of the grace", async () => {
    const proxy = await proxyWith({ limits: { drainGraceMs: 300 } });
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await get(proxy, agent)).status).toBe(200);
      await idle(proxy);
      const pooled = Object.values(agent.freeSockets).flat()[0];
      const closed = new Promise((resolve) => pooled?.once("close", resolve));
      expect(await drainAndClose(proxy)).toMatchObject({ inFlight: 0, idleClosed: 1, cut: 0 });
      await closed;
    } finally {
      agent.destroy();
    }
  });
});

/** An HTTP/2 request on `session`: its status, or its error's code. */
function request(session: http2.ClientHttp2Session, urlPath = PATH): Promise<Answer> {
  return new Promise((resolve) => {
    const stream = session.request({ ":path": urlPath, authorization: `Bearer ${token}` });
    let status = 0;
    let body = "";
    stream.setEncoding("utf8");
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.on("data", (chunk: string) => {
      body += chunk;
    });
    stream.on("end", () => resolve({ status, body }));
    stream.on("error", (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? error.message }));
    stream.end();
  });
}

/** An HTTP/2 session to the proxy, and the GOAWAYs it got (their last stream ids). */
async function connect(
  proxy: RunningProxy,
): Promise<{ session: http2.ClientHttp2Session; goaways: number[] }> {
  const session = http2.connect(`https://localhost:${new URL(proxy.url).port}`, {
    ca: proxy.ca.certificatePem,
  });
  const goaways: number[] = [];
  session.on("goaway", (_code: number, lastStreamId: number) => goaways.push(lastStreamId));
  session.on("error", () => {});
  await new Promise((resolve) => session.once("connect", resolve));
  return { session, goaways };
}

describe("a drain and HTTP/2 clients", () => {
  it("answers a request sent on an idle session as it begins, then sends a GOAWAY that refuses no stream", async () => {
    const proxy = await proxyWith();
    const { session, goaways } = await connect(proxy);
    try {
      expect(await request(session)).toEqual({ status: 200, body: LIST });
      await idle(proxy);
      const racing = request(session);
      // Node's client writes the stream's HEADERS a turn later: drain once it has, before the proxy reads it.
      await new Promise((resolve) => setImmediate(resolve));
      const drained = drainAndClose(proxy);
      expect(await racing).toEqual({ status: 200, body: LIST });
      // The first GOAWAY names the largest stream id: no new stream here, none refused.
      expect(goaways[0]).toBe(2 ** 31 - 1);
      expect(await drained).toMatchObject({ inFlight: 0, cut: 0 });
    } finally {
      session.destroy();
    }
  });

  it("answers a request sent as it begins on a session with a stream in flight", async () => {
    const proxy = await proxyWith();
    const { session, goaways } = await connect(proxy);
    try {
      const slow = request(session, `${PATH}?delayMs=1000`);
      while (proxy.metrics.inFlight < 1) await new Promise((resolve) => setTimeout(resolve, 10));
      const racing = request(session);
      await new Promise((resolve) => setImmediate(resolve));
      const drained = drainAndClose(proxy);
      expect(await racing).toEqual({ status: 200, body: LIST });
      expect(await slow).toEqual({ status: 200, body: LIST });
      expect(goaways[0]).toBe(2 ** 31 - 1);
      // The final GOAWAY, once the client had read the first, names the last stream the proxy took.
      expect(goaways.at(-1)).toBe(3);
      expect(await drained).toMatchObject({ inFlight: 1, cut: 0 });
    } finally {
      session.destroy();
    }
  });

  it("answers the first request of a session that began just before", async () => {
    const proxy = await proxyWith();
    const { session, goaways } = await connect(proxy);
    try {
      const first = request(session);
      await new Promise((resolve) => setImmediate(resolve));
      const drained = drainAndClose(proxy);
      expect(await first).toEqual({ status: 200, body: LIST });
      expect(goaways[0]).toBe(2 ** 31 - 1);
      expect(await drained).toMatchObject({ cut: 0 });
    } finally {
      session.destroy();
    }
  });
});
