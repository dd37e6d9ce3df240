/**
 * Requests the apiserver did not process are sent again, once. The upstream is a real HTTP/2 server on
 * loopback that refuses a request's first attempts as told by its query — RST_STREAM with REFUSED_STREAM,
 * a GOAWAY whose last-stream-id is below the request's stream, or a reset the proxy may not take as
 * "unprocessed" (INTERNAL_ERROR) — and answers the next attempt with what it received. Clients speak
 * HTTP/1.1 (Node's https) and HTTP/2 (Node's http2) to the proxy, which speaks HTTP/2 upstream.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningProxy } from "./start-proxy";
import { EMPTY_SPEC, fakeApiserver, fakeApiserverKubeconfig, testProxies, writeProxyInputs } from "./testing";
import { DEFAULT_RETRY_LIMITS, ReplayableBody, RetryBudget } from "./upstream-retry";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-retry-test-"));
const token = `test-token-${randomBytes(8).toString("hex")}`;
let upstream: http2.Http2SecureServer;
let kubeconfig: string;
let specFile: string;
const proxies = testProxies(() => ({ kubeconfig, spec: specFile, caDir: path.join(dir, "proxy-ca") }));
/** Attempts the upstream saw, by the `case` in their query. */
const attempts = new Map<string, number>();
let nextCase = 0;

/** How the upstream fails a request's first `fail` attempts (the `how` of its query). */
type Failure = "refuse" | "goaway" | "internal";

beforeAll(async () => {
  const apiserver = await fakeApiserver(dir, (req, res) => {
    const url = new URL(req.url, "https://x");
    const key = url.searchParams.get("case") ?? "";
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    const fail = attempt <= Number(url.searchParams.get("fail") ?? 0);
    const failNow = () => {
      const how = url.searchParams.get("how") as Failure;
      if (how === "goaway") {
        // A GOAWAY that says this stream was never processed, as a restarting apiserver sends it;
        // the stream is left unanswered (the proxy's session closes it, and then the connection).
        // Node takes a last-stream-id of 0 as "the last one processed": the stream must not be the first.
        const id = req.stream.id ?? 0;
        expect(id).toBeGreaterThan(1);
        req.stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, id - 2);
      } else
        req.stream.close(
          how === "refuse" ? http2.constants.NGHTTP2_REFUSED_STREAM : http2.constants.NGHTTP2_INTERNAL_ERROR,
        );
    };
    // At once (the body still on its way, as a full apiserver refuses), or once the body is read.
    if (fail && url.searchParams.get("when") !== "after body") {
      failNow();
      return;
    }
    const hash = createHash("sha256");
    let bytes = 0;
    req.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    req.on("end", () => {
      if (fail) failNow();
      else {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ attempt, bytes, sha256: hash.digest("hex") }));
      }
    });
  });
  upstream = apiserver.server;
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

/** A path whose first `fail` attempts the upstream fails by `how`; its own case, counted in `attempts`. */
function failing(fail: number, how: Failure, when: "at once" | "after body" = "at once"): string {
  const key = `c${nextCase++}`;
  return `/api/v1/namespaces/default/configmaps?case=${key}&fail=${fail}&how=${how}&when=${encodeURIComponent(when)}`;
}

/** One answered request, so that the proxy's upstream session has a stream below the next one's. */
async function warmUp(proxy: RunningProxy): Promise<void> {
  expect((await request(proxy, "GET", failing(0, "refuse"))).status).toBe(200);
}

/** The upstream's attempts for the case of `urlPath`. */
function attemptsOf(urlPath: string): number {
  return attempts.get(new URL(urlPath, "https://x").searchParams.get("case") ?? "") ?? 0;
}

interface Answer {
  status: number | string;
  body: string;
}

/** A request over HTTP/1.1; `chunked` sends the body without a Content-Length, in 16 KiB writes. */
function request(
  proxy: RunningProxy,
  method: string,
  urlPath: string,
  body?: Buffer,
  chunked = false,
): Promise<Answer> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}` };
    if (body && !chunked) headers["content-length"] = body.length;
    const req = https.request(
      {
        host: "localhost",
        port: new URL(proxy.url).port,
        path: urlPath,
        method,
        ca: proxy.ca.certificatePem,
        agent: false,
        headers,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) =>
      resolve({ status: error.code ?? error.message, body: "" }),
    );
    if (body && chunked)
      for (let at = 0; at < body.length; at += 16 * 1024) req.write(body.subarray(at, at + 16 * 1024));
    req.end(body && !chunked ? body : undefined);
  });
}

/** A request over HTTP/2, its body (if any) in one write. */
function requestH2(proxy: RunningProxy, method: string, urlPath: string, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(proxy.url.replace("127.0.0.1", "localhost"), {
      ca: proxy.ca.certificatePem,
    });
    session.on("error", reject);
    const stream = session.request(
      { ":method": method, ":path": urlPath, authorization: `Bearer ${token}` },
      { endStream: body === undefined },
    );
    let status = 0;
    let text = "";
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      text += chunk;
    });
    stream.on("end", () => {
      session.close();
      resolve({ status, body: text });
    });
    stream.on("error", reject);
    if (body) stream.end(body);
  });
}

/** The proxy's `apisnoop_proxy_upstream_retries_total` sample for `reason`, or the family's bare 0. */
function retries(proxy: RunningProxy, reason?: string): number {
  const text = proxy.metrics.render();
  const sample = reason
    ? new RegExp(`^apisnoop_proxy_upstream_retries_total\\{reason="${reason}"\\} (\\d+)$`, "m")
    : /^apisnoop_proxy_upstream_retries_total (\d+)$/m;
  return Number(sample.exec(text)?.[1] ?? 0);
}

/**
 * The proxy's counted requests, as `code count` lines, once every request it took is done (a flow is
 * counted a turn after its client has the last byte).
 */
async function countedRequests(proxy: RunningProxy, expected: number): Promise<string[]> {
  for (;;) {
    const samples = [
      ...proxy.metrics.render().matchAll(/^apisnoop_proxy_requests_total\{.*code="(\d+)".*\} (\d+)$/gm),
    ];
    const counted = samples.map(([, code, n]) => `${code} ${n}`);
    if (samples.reduce((sum, [, , n]) => sum + Number(n), 0) >= expected) return counted;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Bytes of request bodies the proxy holds for retries now. */
function heldBodyBytes(proxy: RunningProxy): number {
  return Number(/^apisnoop_proxy_upstream_retry_body_bytes (\d+)$/m.exec(proxy.metrics.render())?.[1]);
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

describe("a request the apiserver did not process", () => {
  it("is sent again after REFUSED_STREAM, and the client gets the second attempt's answer", async () => {
    const proxy = await proxies.start();
    const urlPath = failing(1, "refuse");
    const answer = await request(proxy, "GET", urlPath);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ attempt: 2, bytes: 0 });
    expect(attemptsOf(urlPath)).toBe(2);
    expect(retries(proxy, "refused stream")).toBe(1);
    expect(proxy.metrics.upstreamErrors).toBe(0);
    // One request, one hit: the client never saw the first attempt.
    expect(await countedRequests(proxy, 1)).toEqual(["200 1"]);
  });

  it("is sent again when a GOAWAY's last-stream-id is below its stream", async () => {
    const proxy = await proxies.start();
    await warmUp(proxy);
    const urlPath = failing(1, "goaway");
    const answer = await request(proxy, "GET", urlPath);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ attempt: 2 });
    expect(retries(proxy, "goaway")).toBe(1);
    expect(retries(proxy, "refused stream")).toBe(0);
  });

  it("is sent again whatever its method, with its whole body from the copy", async () => {
    const proxy = await proxies.start();
    // Refused as its headers arrive: most of the body is still on its way, and goes to the retry.
    const body = randomBytes(256 * 1024);
    const urlPath = failing(1, "refuse");
    const answer = await request(proxy, "POST", urlPath, body);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ attempt: 2, bytes: body.length, sha256: sha256(body) });
    // Refused once its body was read: the retry sends it all again from the copy.
    const chunked = randomBytes(100 * 1024);
    const afterBody = failing(1, "refuse", "after body");
    const second = await request(proxy, "PUT", afterBody, chunked, true);
    expect(JSON.parse(second.body)).toEqual({ attempt: 2, bytes: chunked.length, sha256: sha256(chunked) });
    expect(retries(proxy, "refused stream")).toBe(2);
    expect(heldBodyBytes(proxy)).toBe(0);
  });

  it("is sent again for an HTTP/2 client, body and all", async () => {
    const proxy = await proxies.start();
    await warmUp(proxy);
    const body = randomBytes(64 * 1024);
    const urlPath = failing(1, "goaway", "after body");
    const answer = await requestH2(proxy, "PATCH", urlPath, body);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ attempt: 2, bytes: body.length, sha256: sha256(body) });
    expect(retries(proxy, "goaway")).toBe(1);
  });
});

describe("a request that is not sent again", () => {
  it("gets the 502 Status when the retry is refused too: never a third attempt", async () => {
    const proxy = await proxies.start();
    const urlPath = failing(5, "refuse");
    const answer = await request(proxy, "GET", urlPath);
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body)).toMatchObject({ kind: "Status", reason: "BadGateway" });
    expect(attemptsOf(urlPath)).toBe(2);
    expect(retries(proxy, "refused stream")).toBe(1);
    expect(proxy.metrics.upstreamErrors).toBe(1);
    expect(await countedRequests(proxy, 1)).toEqual(["502 1"]);
  });

  it("gets the 502 Status for a reset that does not say the apiserver did not process it", async () => {
    const proxy = await proxies.start();
    const urlPath = failing(1, "internal");
    const answer = await request(proxy, "POST", urlPath, Buffer.from('{"kind":"ConfigMap"}'));
    expect(answer.status).toBe(502);
    expect(attemptsOf(urlPath)).toBe(1);
    expect(retries(proxy)).toBe(0);
  });

  it(`gets the 502 Status when its declared body is above the bound (${DEFAULT_RETRY_LIMITS.bodyBytes} bytes)`, async () => {
    const proxy = await proxies.start();
    const body = randomBytes(DEFAULT_RETRY_LIMITS.bodyBytes + 1);
    const urlPath = failing(1, "refuse", "after body");
    const answer = await request(proxy, "POST", urlPath, body);
    expect(answer.status).toBe(502);
    expect(attemptsOf(urlPath)).toBe(1);
    expect(retries(proxy)).toBe(0);
  });

  it("gets the 502 Status when its body streamed past the bound, or the budget of all bodies is spent", async () => {
    const proxy = await proxies.start({
      upstreamRetries: { bodyBytes: 32 * 1024, totalBodyBytes: 48 * 1024 },
    });
    // No Content-Length: the copy is dropped once the body passes 32 KiB.
    const streamed = failing(1, "refuse", "after body");
    expect((await request(proxy, "PUT", streamed, randomBytes(64 * 1024), true)).status).toBe(502);
    expect(attemptsOf(streamed)).toBe(1);
    // Within its own bound, but two at once pass the 48 KiB budget: the one the budget refused is not sent again.
    const first = failing(1, "refuse", "after body");
    const second = failing(1, "refuse", "after body");
    const both = await Promise.all([
      request(proxy, "POST", first, randomBytes(30 * 1024)),
      request(proxy, "POST", second, randomBytes(30 * 1024)),
    ]);
    expect(both.map((answer) => answer.status).sort()).toEqual([200, 502]);
    expect(attemptsOf(first) + attemptsOf(second)).toBe(3);
    expect(retries(proxy, "refused stream")).toBe(1);
    expect(heldBodyBytes(proxy)).toBe(0);
  });
});

describe("a body held for a retry", () => {
  /** A target that collects what it is sent. */
  function collector(): { target: PassThrough; text: () => string } {
    const target = new PassThrough();
    const chunks: Buffer[] = [];
    target.on("data", (chunk: Buffer) => chunks.push(chunk));
    return { target, text: () => Buffer.concat(chunks).toString() };
  }
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  it("waits, whole, for the retry's target while the retry's session connects", async () => {
    const budget = new RetryBudget({ bodyBytes: 10, totalBodyBytes: 100 });
    const body = new PassThrough();
    body.pause();
    const replay = new ReplayableBody(body, budget);
    const first = collector();
    replay.sendTo(first.target);
    body.write("abcd");
    await tick();
    expect(first.text()).toBe("abcd");
    // The first stream failed and the retry was decided; more of the body arrives before its stream
    // does, enough to pass the bound: it must not cost the copy the retry was decided on.
    replay.park();
    body.end("efghijkl");
    await tick();
    expect(replay.replayable).toBe(true);
    expect(budget.heldBytes).toBe(4);
    const second = collector();
    replay.sendTo(second.target);
    await tick();
    expect(second.text()).toBe("abcdefghijkl");
    // Past the bound once the retry has it: the copy is dropped, the body went on all the same.
    expect(replay.replayable).toBe(false);
    expect(budget.heldBytes).toBe(0);
  });
});
