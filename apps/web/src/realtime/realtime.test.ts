import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  INGEST_NAMESPACE,
  type IngestAck,
  type IngestBatch,
  LIVE_NAMESPACE,
  type LiveDelta,
  type LiveSubscribeAck,
  PROTOCOL_VERSION,
  sourceFromUserAgent,
} from "@apisnoop/protocol";
import { Server } from "socket.io";
import { io as connect, type Socket } from "socket.io-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { setupIngest } from "./ingest";
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
    setupIngest(io, {
      token: TOKEN,
      recordBatch: async (b) => {
        if (failNext) {
          failNext = false;
          throw new Error("connection refused");
        }
        const duplicate = stored.has(b.batchId);
        stored.set(b.batchId, b);
        return { duplicate };
      },
      onCommitted: (b, at) => hub.publish(committedHits(b, at)),
    });
    setupLive(io, {
      hub,
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
    await new Promise<void>((resolve) => io.close(() => resolve()));
  });

  function client(namespace: string, auth?: Record<string, unknown>): Socket {
    const socket = connect(`${url}${namespace}`, { transports: ["websocket"], auth, reconnection: false });
    sockets.push(socket);
    return socket;
  }

  const connectError = (socket: Socket) =>
    new Promise<string>((resolve) => socket.once("connect_error", (error) => resolve(error.message)));
  const send = (socket: Socket, payload: unknown) =>
    socket.timeout(5000).emitWithAck("batch", payload) as Promise<IngestAck>;

  it("refuses connections without the token, with a wrong one, or with another protocol", async () => {
    expect(await connectError(client(INGEST_NAMESPACE))).toBe("invalid ingest token");
    expect(await connectError(client(INGEST_NAMESPACE, { token: "wrong" }))).toBe("invalid ingest token");
    expect(await connectError(client(INGEST_NAMESPACE, { token: TOKEN, protocol: 99 }))).toMatch(
      /protocol 99/,
    );
  });

  it("acks after storing, once per batch id, and refuses malformed batches", async () => {
    const proxy = client(INGEST_NAMESPACE, { token: TOKEN, proxyId: "p", protocol: PROTOCOL_VERSION });
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

    const proxy = client(INGEST_NAMESPACE, { token: TOKEN, proxyId: "p" });
    await send(proxy, batch("listCoreV1NamespacedPod", 3));
    const wanted = batch("readCoreV1Namespace", 2);
    await send(proxy, wanted);
    await send(proxy, wanted); // a replay is not a new hit
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(deltas.map((d) => d.endpoints)).toEqual([{ readCoreV1Namespace: 2 }]);
    expect(deltas[0]?.seq).toBe(1);
  });
});
