import { randomBytes, randomUUID } from "node:crypto";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import {
  INGEST_NAMESPACE,
  INGEST_PATH,
  type IngestAck,
  type IngestBatch,
  ingestConnection,
  LIVE_BUSY,
  LIVE_NAMESPACE,
  type LiveDelta,
  type LiveSubscribeAck,
  PROTOCOL_VERSION,
  sourceFromUserAgent,
} from "@apisnoop/protocol";
import { Server } from "socket.io";
import { io as connect, type Socket } from "socket.io-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type RunningIngest, setupIngest } from "./ingest";
import { setupLive } from "./live";
import { committedHits, LiveHub } from "./live-hub";

const TOKEN = "test-token-0123456789";

function batch(operationId = "listCoreV1NamespacedPod", count = 1): IngestBatch {
  return {
    protocol: PROTOCOL_VERSION,
    batchId: randomUUID(),
    proxyId: "proxy-a",
    release: "1.34",
    sentAt: Date.now(),
    sources: [sourceFromUserAgent("kubectl/v1.34.0")],
    hits: [
      { source: 0, operationId, method: "GET", statusClass: "2xx", minute: 29_000_000, count, details: {} },
    ],
    unknownCalls: [],
    fields: [],
  };
}

describe("ingest and live namespaces", () => {
  let io: Server;
  let ingest: RunningIngest;
  let url: string;
  let hub: LiveHub;
  let stored: Map<string, IngestBatch>;
  let failNext: boolean;
  const sockets: Socket[] = [];

  beforeEach(async () => {
    const server = createServer();
    io = new Server(server);
    hub = new LiveHub();
    stored = new Map();
    failNext = false;
    ingest = setupIngest(server, {
      token: TOKEN,
      recordBatch: async (b) => {
        if (failNext) {
          failNext = false;
          throw new Error("connection refused");
        }
        const duplicate = stored.has(b.batchId);
        stored.set(b.batchId, b);
        return { duplicate, release: b.release ?? "unknown" };
      },
      onCommitted: (b, release, at) => hub.publish(committedHits(b, release, at)),
    });
    setupLive(io, {
      hub,
      maxViewers: 2,
      resolveScope: async (query) =>
        query.includes("bad")
          ? { ok: false, error: "level must be stable, beta or alpha, not 'bad'" }
          : {
              ok: true,
              release: "1.34",
              scope: {
                acceptsRelease: () => true,
                acceptsEndpoint: (id) => !query.includes("only=") || query.includes(id),
                acceptsSource: () => true,
                successOnly: false,
              },
            },
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.disconnect();
    hub.close();
    await ingest.close();
    await new Promise<void>((resolve) => io.close(() => resolve()));
  });

  function client(namespace: string, auth?: Record<string, unknown>): Socket {
    const socket = connect(`${url}${namespace}`, { transports: ["websocket"], auth, reconnection: false });
    sockets.push(socket);
    return socket;
  }

  /** A proxy's connection to the ingest, as the uplink makes it. */
  function proxyClient(token = TOKEN, auth: Record<string, unknown> = {}): Socket {
    const connection = ingestConnection(url, { token, proxyId: "p" });
    const socket = connect(connection.url, {
      ...connection.options,
      auth: { ...connection.options.auth, ...auth },
      reconnection: false,
    });
    sockets.push(socket);
    return socket;
  }

  const connectError = (socket: Socket) =>
    new Promise<string>((resolve) => socket.once("connect_error", (error) => resolve(error.message)));
  /** Sends a WebSocket upgrade request to `path` by hand; resolves the status and body answered. */
  const upgradeStatus = (path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const outgoing = request(`${url}${path}?EIO=4&transport=websocket`, {
        headers: {
          connection: "Upgrade",
          upgrade: "websocket",
          "sec-websocket-version": "13",
          "sec-websocket-key": randomBytes(16).toString("base64"),
          ...headers,
        },
      });
      outgoing.on("response", (response) => {
        let body = "";
        response.setEncoding("utf8").on("data", (chunk: string) => {
          body += chunk;
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      });
      outgoing.on("upgrade", (_response, socket) => {
        socket.destroy();
        resolve({ status: 101, body: "" });
      });
      outgoing.on("error", reject);
      outgoing.end();
    });
  const send = (socket: Socket, payload: unknown) =>
    socket.timeout(5000).emitWithAck("batch", payload) as Promise<IngestAck>;

  it("refuses connections without the token, with a wrong one, or with another protocol", async () => {
    expect(await upgradeStatus(INGEST_PATH, {})).toEqual({ status: 401, body: "invalid ingest token" });
    expect(await upgradeStatus(INGEST_PATH, { authorization: "Bearer wrong" })).toEqual({
      status: 401,
      body: "invalid ingest token",
    });
    expect(await connectError(proxyClient("wrong"))).toBe("websocket error");
    expect(await connectError(proxyClient(TOKEN, { protocol: 99 }))).toMatch(/protocol 99/);
    // The browsers' engine has no ingest: a proxy there gets no large frames, only a reason.
    expect(await connectError(client(INGEST_NAMESPACE, { token: TOKEN }))).toMatch(
      /ingest is served at path \/ingest\/socket\.io\//,
    );
  });

  it("takes 64 MiB messages only on the authenticated ingest, Socket.IO's 1 MB default elsewhere", async () => {
    const proxy = proxyClient();
    // A batch whose frame is over 2 MB (and under the ingest's 64 MiB): stored.
    const big = batch();
    big.sources = Array.from({ length: 4000 }, (_, i) =>
      sourceFromUserAgent(`agent-${i}-${"x".repeat(500)}`),
    );
    expect(JSON.stringify(big).length).toBeGreaterThan(2 * 2 ** 20);
    expect(await send(proxy, big)).toEqual({ ok: true, batchId: big.batchId, duplicate: false });
    // The same bytes from a browser on /live end its connection: Socket.IO's 1 MB limit applies there.
    const browser = client(LIVE_NAMESPACE);
    await new Promise<void>((resolve) => browser.once("connect", () => resolve()));
    const closed = new Promise<string>((resolve) => browser.once("disconnect", resolve));
    browser.emit("subscribe", { query: "x".repeat(2 * 2 ** 20) });
    expect(await closed).toBe("transport close");
  });

  it("acks after storing, once per batch id, and refuses malformed batches", async () => {
    const proxy = proxyClient();
    const first = batch();
    expect(await send(proxy, first)).toEqual({ ok: true, batchId: first.batchId, duplicate: false });
    expect(stored.has(first.batchId)).toBe(true);
    expect(await send(proxy, first)).toEqual({ ok: true, batchId: first.batchId, duplicate: true });
    expect(await send(proxy, { ...batch(), protocol: 7 })).toMatchObject({ ok: false, retry: false });
    expect(await send(proxy, "nonsense")).toMatchObject({ ok: false, batchId: null, retry: false });
    failNext = true;
    const unlucky = batch();
    expect(await send(proxy, unlucky)).toEqual({
      ok: false,
      batchId: unlucky.batchId,
      error: "storage unavailable",
      retry: true,
    });
  });

  it("pushes committed hits to live subscribers within their scope", async () => {
    const browser = client(LIVE_NAMESPACE);
    const deltas: LiveDelta[] = [];
    browser.on("delta", (delta: LiveDelta) => deltas.push(delta));
    const ack = (await browser
      .timeout(5000)
      .emitWithAck("subscribe", { query: "only=readCoreV1Namespace" })) as LiveSubscribeAck;
    expect(ack).toEqual({ ok: true, release: "1.34" });
    expect(await browser.timeout(5000).emitWithAck("subscribe", { query: "level=bad" })).toEqual({
      ok: false,
      error: "level must be stable, beta or alpha, not 'bad'",
    });
    expect(await browser.timeout(5000).emitWithAck("subscribe", 42)).toMatchObject({ ok: false });
    await browser.timeout(5000).emitWithAck("subscribe", { query: "only=readCoreV1Namespace" });

    const proxy = proxyClient();
    await send(proxy, batch("listCoreV1NamespacedPod", 3));
    const wanted = batch("readCoreV1Namespace", 2);
    await send(proxy, wanted);
    await send(proxy, wanted); // a replay is not a new hit
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(deltas.map((d) => d.endpoints)).toEqual([{ readCoreV1Namespace: 2 }]);
    expect(deltas[0]?.seq).toBe(1);
  });

  it("serves at most maxViewers live pages; one more is told the dashboard is busy", async () => {
    const viewers = [client(LIVE_NAMESPACE), client(LIVE_NAMESPACE)];
    await Promise.all(
      viewers.map((viewer) => new Promise<void>((resolve) => viewer.once("connect", () => resolve()))),
    );
    const third = client(LIVE_NAMESPACE);
    const refused = await new Promise<Error & { data?: unknown }>((resolve) =>
      third.once("connect_error", resolve),
    );
    expect(refused.message).toMatch(/too many live viewers \(2\)/);
    expect(refused.data).toEqual({ reason: LIVE_BUSY });
    viewers[0]?.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 100));
    third.connect();
    await new Promise<void>((resolve) => third.once("connect", () => resolve()));
  });
});
