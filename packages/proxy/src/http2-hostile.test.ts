/**
 * Hostile HTTP/2 clients, as raw frames over TLS: PING and SETTINGS floods, rapid reset (CVE-2023-44487),
 * a stream flood past the concurrency limit, too many header fields, and an endless CONTINUATION header
 * block. Each is cut off by a bound (HTTP2_CLIENT_LIMITS, nghttp2's flood and reset limits) and counted;
 * the upstream sees a bounded number of requests; the proxy keeps serving everyone else and holds no
 * session of theirs after the idle timeout.
 */
import { mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningProxy, startProxy } from "./start-proxy";
import { EMPTY_SPEC, fakeApiserver, fakeApiserverKubeconfig, writeProxyInputs } from "./testing";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-http2-hostile-"));
let upstream: http2.Http2SecureServer;
let proxy: RunningProxy;
let upstreamRequests = 0;

beforeAll(async () => {
  const apiserver = await fakeApiserver(dir, (req, res) => {
    upstreamRequests++;
    req.resume();
    // Slow answers, so requests pile up if nothing bounds them.
    const timer = setTimeout(() => res.end("{}"), 50);
    res.on("close", () => clearTimeout(timer));
  });
  upstream = apiserver.server;
  const inputs = writeProxyInputs(
    dir,
    fakeApiserverKubeconfig(apiserver.url, apiserver.caPem, { token: "hostile-test" }),
    EMPTY_SPEC,
  );
  proxy = await startProxy({
    kubeconfig: inputs.kubeconfig,
    listen: { host: "127.0.0.1", port: 0 },
    adminListen: null,
    spec: inputs.spec,
    caDir: path.join(dir, "proxy-ca"),
    // A session that opens no stream is closed after the first, one with none open after the second
    // (the defaults are 30 s).
    limits: { headersTimeoutMs: 3000, idleTimeoutMs: 3000 },
  });
});

afterAll(async () => {
  await proxy?.close();
  await new Promise((resolve) => upstream.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

const SETTINGS = (payload = Buffer.alloc(0)) => frame(0x4, 0, 0, payload);
const PING = () => frame(0x6, 0, 0, Buffer.alloc(8));
const END_STREAM = 0x1;
const END_HEADERS = 0x4;

/** HPACK: `:method GET`, `:scheme https`, `:path /` (static table) and `:authority localhost`, then `extra`. */
function requestBlock(extra: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([Buffer.from([0x82, 0x87, 0x84, 0x01, 9]), Buffer.from("localhost"), extra]);
}

/** A literal header field without indexing, new name. */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x00, name.length]),
    Buffer.from(name),
    Buffer.from([value.length]),
    Buffer.from(value),
  ]);
}

/**
 * Opens a TLS connection negotiating h2 and writes `frames` (the preface first). Resolves when the proxy
 * closes it, or after `ms`, with whether it was closed and the frame types it sent.
 */
function hostile(frames: Buffer[], ms = 8000, read = true): Promise<{ closed: boolean; goaway: boolean }> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port: Number(new URL(proxy.url).port),
      servername: "localhost",
      ca: proxy.ca.certificatePem,
      ALPNProtocols: ["h2"],
    });
    let goaway = false;
    let pending = Buffer.alloc(0);
    if (read)
      socket.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 9) {
          const length = pending.readUIntBE(0, 3);
          if (pending.length < 9 + length) break;
          if (pending[3] === 0x7) goaway = true;
          pending = pending.subarray(9 + length);
        }
      });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closed: false, goaway });
    }, ms);
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ closed: true, goaway });
    });
    socket.once("secureConnect", () => {
      expect(socket.alpnProtocol).toBe("h2");
      // A flooder that never reads what it provokes: the proxy's answers can only queue.
      if (!read) {
        socket.pause();
        // Then read again, only to see whether the proxy has closed the connection meanwhile.
        setTimeout(() => socket.resume(), ms / 2);
      }
      socket.write(Buffer.concat([PREFACE, ...frames]));
    });
  });
}

/** The value of one line of the proxy's metrics (`name` with its labels), 0 when absent. */
function metric(line: string): number {
  const found = proxy.metrics
    .render()
    .split("\n")
    .find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

const sessionErrors = (kind: string) => metric(`apisnoop_proxy_http2_session_errors_total{kind="${kind}"}`);

/** A well-behaved client's request through the proxy: the proxy still serves. */
async function stillServes(): Promise<void> {
  const session = http2.connect(`https://localhost:${new URL(proxy.url).port}`, {
    ca: proxy.ca.certificatePem,
  });
  try {
    const status = await new Promise<number>((resolve, reject) => {
      const stream = session.request({ ":path": "/api", authorization: "Bearer hostile-test" });
      stream.on("response", (headers) => resolve(Number(headers[":status"])));
      stream.on("error", reject);
      stream.resume();
    });
    expect(status).toBe(200);
  } finally {
    session.close();
  }
}

describe("hostile HTTP/2 clients", () => {
  it("a PING flood that never reads the answers is cut off, and everyone else is served", async () => {
    const cutOff = () =>
      sessionErrors("flood") + metric('apisnoop_proxy_timeouts_total{phase="first request"}');
    const before = cutOff();
    const pings = Array.from({ length: 200_000 }, PING);
    const flood = hostile([SETTINGS(), ...pings], 8000, false);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await stillServes();
    expect((await flood).closed).toBe(true);
    // nghttp2's flood guard, or the first-request timeout when the flooder's socket stays full first.
    expect(cutOff()).toBeGreaterThan(before);
  });

  it("a SETTINGS flood is cut off", async () => {
    const before = sessionErrors("flood");
    const settings = Array.from({ length: 20_000 }, () => SETTINGS(Buffer.from([0, 3, 0, 0, 0, 100])));
    expect((await hostile([SETTINGS(), ...settings])).closed).toBe(true);
    expect(sessionErrors("flood")).toBe(before + 1);
    await stillServes();
  });

  it("rapid reset (CVE-2023-44487): streams opened and cancelled at once reach the upstream a bounded number of times", async () => {
    const before = upstreamRequests;
    const resetsBefore = metric("apisnoop_proxy_http2_streams_reset_total");
    const frames: Buffer[] = [SETTINGS()];
    for (let i = 0; i < 10_000; i++) {
      const id = 2 * i + 1;
      frames.push(frame(0x1, END_HEADERS | END_STREAM, id, requestBlock()));
      frames.push(frame(0x3, 0, id, Buffer.from([0, 0, 0, 8]))); // RST_STREAM CANCEL
    }
    const outcome = await hostile(frames);
    expect(outcome.closed || outcome.goaway).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(upstreamRequests - before).toBeLessThan(2_000);
    expect(metric("apisnoop_proxy_http2_streams_reset_total")).toBeGreaterThan(resetsBefore);
    await stillServes();
  });

  it("streams past the concurrency limit are refused, not queued", async () => {
    const before = upstreamRequests;
    const sessionsBefore = metric("apisnoop_proxy_upstream_sessions_opened_total");
    const unauthenticatedBefore = metric("apisnoop_proxy_upstream_unauthenticated_requests_total");
    const frames: Buffer[] = [SETTINGS()];
    for (let i = 0; i < 400; i++)
      frames.push(frame(0x1, END_HEADERS | END_STREAM, 2 * i + 1, requestBlock()));
    await hostile(frames, 1000);
    // At most 250 at once were accepted; the slow upstream answered none of them before the rest came.
    expect(upstreamRequests - before).toBeLessThanOrEqual(250);
    // They carry no token and the proxy has no client certificate: anonymous, so over the bounded
    // HTTP/1.1 pool, at no upstream session's cost (kube-apiserver ends one after each).
    expect(upstreamRequests - before).toBeGreaterThan(0);
    expect(
      metric("apisnoop_proxy_upstream_unauthenticated_requests_total") - unauthenticatedBefore,
    ).toBeGreaterThanOrEqual(upstreamRequests - before);
    expect(metric("apisnoop_proxy_upstream_sessions_opened_total")).toBe(sessionsBefore);
    await stillServes();
  });

  it("a request with too many header fields, or an endless header block, is refused", async () => {
    const before = upstreamRequests;
    const many = Buffer.concat(Array.from({ length: 200 }, (_, i) => literal(`x-h${i}`, "v")));
    await hostile([SETTINGS(), frame(0x1, END_HEADERS | END_STREAM, 1, requestBlock(many))], 2000);
    expect(upstreamRequests - before).toBe(0);
    const big = literal("x-big", "v".repeat(100)); // 100-byte value, repeated in CONTINUATION frames
    const continuation = Array.from({ length: 20_000 }, () => frame(0x9, 0, 1, big));
    const floodsBefore = sessionErrors("continuation flood");
    const endless = await hostile([SETTINGS(), frame(0x1, END_STREAM, 1, requestBlock()), ...continuation]);
    expect(endless.closed || endless.goaway).toBe(true);
    expect(sessionErrors("continuation flood")).toBe(floodsBefore + 1);
    expect(upstreamRequests - before).toBe(0);
    await stillServes();
  });

  it("holds no session of any of them once they are over", async () => {
    // Node stops reading a session after a rapid-reset burst and never sees its client close: the idle
    // timeout is what frees it.
    await expect
      .poll(() => metric("apisnoop_proxy_http2_sessions"), { timeout: 30_000, interval: 200 })
      .toBe(0);
  });
});
