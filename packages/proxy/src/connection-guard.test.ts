/**
 * What the proxy refuses and what it bounds, at the connection level, against a local HTTPS upstream:
 * no open relay (every CONNECT spelling of a local service is refused and that service sees no
 * connection), malformed authorities answered instead of crashing, timeouts for silent peers, the
 * connection cap, one leaf for every SNI name, oversized heads, and a drain.
 */
import { mkdtempSync } from "node:fs";
import type http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority } from "./certificate-authority";
import { parseAllowTunnel } from "./connect-policy";
import type { RunningProxy } from "./start-proxy";
import { EMPTY_SPEC, fakeApiserverKubeconfig, testProxies, writeProxyInputs } from "./testing";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-guard-test-"));
let upstream: https.Server;
let upstreamPort: number;
/** A local service the proxy must never reach unless allowed: it counts every connection it gets. */
let sentinel: net.Server;
let sentinelPort: number;
let sentinelConnections = 0;
let kubeconfig: string;
let specFile: string;
const proxies = testProxies(() => ({ kubeconfig, spec: specFile, caDir: path.join(dir, "proxy-ca") }));
/** A proxy on the fake apiserver with `options`; closed after the file's tests. */
const proxyWith = proxies.start;

beforeAll(async () => {
  const upstreamCa = await CertificateAuthority.open(path.join(dir, "upstream-ca"));
  const serving = await upstreamCa.leafFor(["127.0.0.1"]);
  upstream = https.createServer({ key: serving.key, cert: serving.cert }, (req, res) => {
    if (req.url?.includes("watch=1")) {
      const type = req.url.includes("cbor") ? "application/cbor-seq" : "application/json";
      res.writeHead(200, { "content-type": type });
      res.write('{"type":"ADDED","object":{}}\n');
      if (req.url.includes("halfEvent")) {
        // An event whose second half comes 1.5 s after its first, then the start of another one.
        res.write('{"type":"MODIFIED","object":{"a":');
        setTimeout(() => res.write('1}}\n{"type":"DELETED","obj'), 1500);
      }
      return; // a watch: never ends by itself
    }
    const delay = Number(new URL(req.url ?? "/", "http://x").searchParams.get("delayMs") ?? 0);
    setTimeout(() => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"kind":"Status","code":200}');
    }, delay);
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  upstreamPort = (upstream.address() as AddressInfo).port;
  sentinel = net.createServer((socket) => {
    sentinelConnections++;
    socket.end("sentinel\n");
  });
  await new Promise<void>((resolve) => sentinel.listen(0, "127.0.0.1", resolve));
  sentinelPort = (sentinel.address() as AddressInfo).port;
  ({ kubeconfig, spec: specFile } = writeProxyInputs(
    dir,
    fakeApiserverKubeconfig(`https://127.0.0.1:${upstreamPort}`, upstreamCa.certificatePem, { token: "t" }),
    EMPTY_SPEC,
  ));
});

afterAll(async () => {
  await proxies.closeAll();
  upstream?.closeAllConnections();
  upstream?.close();
  sentinel?.close();
});

function portOf(proxy: RunningProxy): number {
  return Number(new URL(proxy.url).port);
}

/** Sends raw bytes and resolves with everything the proxy answered before it closed (or 3 s passed). */
function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(answer);
    }, 3000);
    socket.on("data", (chunk) => {
      answer += chunk.toString("latin1");
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

/**
 * A GET through the proxy in reverse mode, from `localAddress` (a loopback address; default 127.0.0.1);
 * resolves with the status, or the error's code.
 */
function get(
  proxy: RunningProxy,
  urlPath: string,
  servername?: string,
  localAddress?: string,
): Promise<number | string> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port: portOf(proxy),
        path: urlPath,
        ca: proxy.ca.certificatePem,
        servername,
        localAddress,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

/**
 * A watch through the proxy over HTTP/1.1 from `localAddress` (default 127.0.0.1), held open until
 * destroyed; resolves once its answer has begun.
 */
function watch(proxy: RunningProxy, localAddress?: string): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: "127.0.0.1",
        port: portOf(proxy),
        path: "/api/v1/pods?watch=1",
        ca: proxy.ca.certificatePem,
        localAddress,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on("error", () => {});
        if (res.statusCode === 200) resolve(req);
        else reject(new Error(`watch answered ${res.statusCode}`));
      },
    );
    req.on("error", () => {});
    req.end();
  });
}

describe("no open relay", () => {
  it("refuses every CONNECT to a local service with 403, and the service sees no connection", async () => {
    const proxy = await proxyWith();
    const port = portOf(proxy);
    const before = sentinelConnections;
    for (const host of [
      "127.0.0.1",
      "127.1",
      "0x7f.0.0.1",
      "2130706433",
      "localhost",
      "LOCALHOST.",
      "[::1]",
      "[::ffff:127.0.0.1]",
    ]) {
      const answer = await exchange(port, `CONNECT ${host}:${sentinelPort} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(answer, host).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(answer).toContain('"reason":"Forbidden"');
      expect(answer).toContain("--allow-tunnel");
    }
    // The apiserver's own host on another port is not the apiserver.
    expect(await exchange(port, `CONNECT 127.0.0.1:${sentinelPort} HTTP/1.1\r\n\r\n`)).toMatch(
      /^HTTP\/1\.1 403/,
    );
    expect(sentinelConnections).toBe(before);
    expect(proxy.metrics.render()).toMatch(/apisnoop_proxy_connects_total\{action="refuse"\} 9/);
  });

  it("refuses absolute-form requests with 403, in plain HTTP and inside TLS", async () => {
    const proxy = await proxyWith();
    const before = sentinelConnections;
    const plain = await exchange(
      portOf(proxy),
      `GET http://127.0.0.1:${sentinelPort}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    );
    expect(plain).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    const insideTls = await new Promise<string>((resolve) => {
      const socket = tls.connect(
        { port: portOf(proxy), host: "127.0.0.1", ca: proxy.ca.certificatePem, servername: "localhost" },
        () => socket.write(`GET http://127.0.0.1:${sentinelPort}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`),
      );
      let answer = "";
      socket.on("data", (chunk) => {
        answer += chunk.toString();
      });
      socket.on("close", () => resolve(answer));
      socket.on("error", () => {});
    });
    expect(insideTls).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(sentinelConnections).toBe(before);
  });

  it("tunnels what --allow-tunnel names, and only that", async () => {
    const proxy = await proxyWith({ allowTunnel: [parseAllowTunnel(`localhost:${sentinelPort}`)] });
    const before = sentinelConnections;
    const answer = await exchange(portOf(proxy), `CONNECT LocalHost:${sentinelPort} HTTP/1.1\r\n\r\n`);
    expect(answer).toBe("HTTP/1.1 200 Connection Established\r\n\r\nsentinel\n");
    expect(sentinelConnections).toBe(before + 1);
    expect(await exchange(portOf(proxy), `CONNECT 127.0.0.1:${sentinelPort} HTTP/1.1\r\n\r\n`)).toMatch(
      /^HTTP\/1\.1 403/,
    );
  });
});

describe("malformed input", () => {
  /** One proxy for every case: each must leave it serving. */
  let malformedInputProxy: RunningProxy | undefined;
  it.each(["x:abc", "x:70000", "x:-1", "[::1", "x", "a@b:1", `${"a".repeat(400)}:1`])(
    "answers CONNECT %j with 400 and goes on serving",
    async (target) => {
      malformedInputProxy ??= await proxyWith();
      const proxy = malformedInputProxy;
      expect(await exchange(portOf(proxy), `CONNECT ${target} HTTP/1.1\r\n\r\n`)).toMatch(
        /^HTTP\/1\.1 400 Bad Request\r\n/,
      );
      expect(await get(proxy, "/api")).toBe(200);
    },
  );

  it("answers a head beyond 64 KiB with 431 and a broken one with 400", async () => {
    const proxy = await proxyWith();
    expect(await exchange(portOf(proxy), `GET /api HTTP/1.1\r\nX: ${"a".repeat(70_000)}\r\n\r\n`)).toMatch(
      /^HTTP\/1\.1 431 /,
    );
    expect(
      await exchange(portOf(proxy), "GET /api HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
    ).toMatch(/^HTTP\/1\.1 400 /);
    expect(proxy.metrics.render()).toMatch(
      /apisnoop_proxy_refused_requests_total\{reason="header too large"\} 1/,
    );
  });
});

describe("bounds", () => {
  it("answers 429 past --max-requests-in-flight, watches included, and serves again once one ends", async () => {
    const proxy = await proxyWith({ limits: { maxRequestsInFlight: 2 } });
    const watches = [await watch(proxy), await watch(proxy)];
    expect(await get(proxy, "/api")).toBe(429);
    expect(proxy.metrics.render()).toMatch(
      /apisnoop_proxy_refused_requests_total\{reason="requests in flight"\} 1/,
    );
    watches[0]?.destroy();
    // The ended watch leaves the count when the proxy sees its client go: soon, not at once.
    let status: number | string = 429;
    for (let attempt = 0; attempt < 100 && status === 429; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = await get(proxy, "/api");
    }
    expect(status).toBe(200);
    watches[1]?.destroy();
  });

  it("holds each client address to its share of requests in flight, and serves the others", async () => {
    const proxy = await proxyWith({ limits: { maxRequestsInFlightPerAddress: 2 } });
    const hog = "127.0.0.2";
    // Its share, as two watch streams on one HTTP/2 connection.
    const session = http2.connect(`https://localhost:${portOf(proxy)}`, {
      createConnection: () =>
        tls.connect({
          socket: net.connect({ host: "127.0.0.1", port: portOf(proxy), localAddress: hog }),
          servername: "localhost",
          ca: proxy.ca.certificatePem,
          ALPNProtocols: ["h2"],
        }),
    });
    session.on("error", () => {});
    /** A stream's status (its body is left to flow). */
    const status = (urlPath: string) =>
      new Promise<number>((resolve, reject) => {
        const stream = session.request({ ":path": urlPath });
        stream.on("response", (headers) => resolve(Number(headers[":status"])));
        stream.on("error", reject);
        stream.resume();
      });
    try {
      expect(await status("/api/v1/pods?watch=1")).toBe(200);
      expect(await status("/api/v1/pods?watch=1")).toBe(200);
      // Past it: on the same connection, and on another one from the same address.
      expect(await status("/api")).toBe(429);
      expect(await get(proxy, "/api", undefined, hog)).toBe(429);
      expect(proxy.metrics.render()).toMatch(
        /apisnoop_proxy_refused_requests_total\{reason="requests in flight per address"\} 2/,
      );
      // Every other address is served, a watch of its own included.
      expect(await get(proxy, "/api", undefined, "127.0.0.3")).toBe(200);
      const other = await watch(proxy, "127.0.0.4");
      expect(await get(proxy, "/api")).toBe(200);
      other.destroy();
    } finally {
      session.destroy();
    }
    // Once its watches end, the address is served again.
    await expect.poll(() => get(proxy, "/api", undefined, hog), { timeout: 5000, interval: 50 }).toBe(200);
  });

  it("closes a connection it answered 400 when the client keeps its own side open", async () => {
    const proxy = await proxyWith({ limits: { idleTimeoutMs: 300 } });
    const openNow = () =>
      Number(/^apisnoop_proxy_connections_open (\d+)$/m.exec(proxy.metrics.render())?.[1]);
    const socket = net.connect({ port: portOf(proxy), host: "127.0.0.1", allowHalfOpen: true });
    socket.on("error", () => {});
    let answer = "";
    socket.on("data", (chunk) => {
      answer += chunk.toString("latin1");
    });
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write("GET /api HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    await new Promise((resolve) => socket.once("end", resolve)); // the answer, then the proxy's FIN
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    // A client that never closes its side (nor reads further) must not hold the connection for good:
    // it is let go like an idle keep-alive connection. A bound, not a speed requirement.
    const deadline = Date.now() + 300 + 10_000;
    while (openNow() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const open = openNow();
    socket.destroy();
    expect(open).toBe(0);
  });

  it("closes a connection that says nothing within the first-byte timeout", async () => {
    const proxy = await proxyWith({ limits: { firstByteTimeoutMs: 200 } });
    const started = Date.now();
    expect(await exchange(portOf(proxy), "")).toBe("");
    expect(Date.now() - started).toBeLessThan(2500);
    expect(proxy.metrics.render()).toMatch(/apisnoop_proxy_timeouts_total\{phase="first byte"\} 1/);
  });

  it("closes a TLS connection that sends no request within the headers timeout", async () => {
    const headersTimeoutMs = 300;
    const proxy = await proxyWith({ limits: { headersTimeoutMs } });
    // The client reads what comes, as a real one does: an answer followed by an end would close it too,
    // and is asserted absent. The wait starts once the handshake is done (that can take seconds on a
    // loaded machine) and is the timeout plus a wide margin: a bound, not a speed requirement.
    const { closed, answer } = await new Promise<{ closed: boolean; answer: string }>((resolve) => {
      let answer = "";
      const socket = tls.connect(
        { port: portOf(proxy), host: "127.0.0.1", ca: proxy.ca.certificatePem, servername: "localhost" },
        () => setTimeout(() => resolve({ closed: false, answer }), headersTimeoutMs + 5000),
      );
      socket.on("data", (chunk) => {
        answer += chunk.toString();
      });
      socket.on("error", () => {});
      socket.on("close", () => resolve({ closed: true, answer }));
    });
    expect(closed).toBe(true);
    expect(answer).toBe("");
    expect(proxy.metrics.render()).toMatch(/apisnoop_proxy_timeouts_total\{phase="first request"\} 1/);
    expect(proxy.metrics.render()).not.toMatch(/reason="header timeout"/);
    // A connection that did send a request is not cut by it (the answer takes longer than the timeout).
    expect(await get(proxy, "/api?delayMs=800")).toBe(200);
  });

  it("answers a request whose headers trickle in slower than the headers timeout with 408", async () => {
    const proxy = await proxyWith({ limits: { headersTimeoutMs: 500 } });
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(portOf(proxy), "127.0.0.1", () =>
        socket.write("GET /api HTTP/1.1\r\nX-A: 1\r\n"),
      );
      const drip = setInterval(() => socket.writable && socket.write("X-B: 1\r\n"), 100);
      let text = "";
      socket.on("data", (chunk) => {
        text += chunk.toString();
      });
      socket.on("error", () => {});
      socket.on("close", () => {
        clearInterval(drip);
        resolve(text);
      });
      setTimeout(() => socket.destroy(), 5000);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("closes connections past --max-connections at once and counts them", async () => {
    const proxy = await proxyWith({ limits: { maxConnections: 3 } });
    const held = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<net.Socket>((resolve) => {
            const socket = net.connect(portOf(proxy), "127.0.0.1", () => resolve(socket));
          }),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await exchange(portOf(proxy), "GET /api HTTP/1.1\r\n\r\n")).toBe("");
    expect(proxy.metrics.connectionsRefused).toBe(1);
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await get(proxy, "/api")).toBe(200);
  });

  it("gives one client address so many TLS handshakes at once; the next wait, others do not", async () => {
    const proxy = await proxyWith({ limits: { handshakesPerAddress: 1 } });
    const port = portOf(proxy);
    const waiting = () => /apisnoop_proxy_tls_handshakes_waiting (\d+)/.exec(proxy.metrics.render())?.[1];
    // From 127.0.0.2, as from another pod: a handshake that never finishes (the start of a ClientHello,
    // then silence) holds the address's one turn; a real one behind it waits.
    const stalled = net.connect({ port, host: "127.0.0.1", localAddress: "127.0.0.2" }, () =>
      stalled.write(Buffer.from([0x16, 0x03, 0x01])),
    );
    stalled.on("error", () => {});
    await new Promise((resolve) => setTimeout(resolve, 200));
    let secured = false;
    const behind = tls.connect(
      {
        socket: net.connect({ port, host: "127.0.0.1", localAddress: "127.0.0.2" }),
        ca: proxy.ca.certificatePem,
        servername: "localhost",
      },
      () => {
        secured = true;
      },
    );
    behind.on("error", () => {});
    for (let i = 0; i < 50 && waiting() !== "1"; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(waiting()).toBe("1");
    // 127.0.0.1 is not held up by 127.0.0.2's queue.
    expect(await get(proxy, "/api")).toBe(200);
    expect(secured).toBe(false);
    // The stalled handshake ends (its client goes): the waiting one gets its turn and completes.
    stalled.destroy();
    for (let i = 0; i < 100 && !secured; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(secured).toBe(true);
    expect(waiting()).toBe("0");
    behind.destroy();
  });

  it("holds a client address to its handshake rate while another address is served", async () => {
    // Half a handshake a second, one at once: the address's second handshake waits about two seconds.
    const proxy = await proxyWith({ limits: { handshakeRatePerAddress: 0.5 } });
    const port = portOf(proxy);
    const rendered = (name: string) => new RegExp(`${name} (\\d+)`).exec(proxy.metrics.render())?.[1];
    const events: string[] = [];
    const handshake = (name: string) =>
      new Promise<void>((resolve) => {
        const socket = tls.connect(
          {
            socket: net.connect({ port, host: "127.0.0.1", localAddress: "127.0.0.5" }),
            ca: proxy.ca.certificatePem,
            servername: "localhost",
          },
          () => {
            events.push(name);
            socket.destroy();
            resolve();
          },
        );
        socket.on("error", () => resolve());
      });
    await handshake("first");
    const second = handshake("second");
    for (let i = 0; i < 50 && rendered("apisnoop_proxy_tls_handshake_rate_delays_total") !== "1"; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(rendered("apisnoop_proxy_tls_handshake_rate_delays_total")).toBe("1");
    expect(rendered("apisnoop_proxy_tls_handshakes_waiting")).toBe("1");
    // 127.0.0.1 has a rate of its own.
    expect(await get(proxy, "/api")).toBe(200);
    events.push("other address served");
    await second;
    expect(events).toEqual(["first", "other address served", "second"]);
    expect(rendered("apisnoop_proxy_tls_handshakes_waiting")).toBe("0");
  });

  it("closes a connection whose TLS handshake does not finish within the handshake timeout", async () => {
    const proxy = await proxyWith({ limits: { handshakeTimeoutMs: 300 } });
    // One byte of a ClientHello, then silence: past the first-byte timeout, inside the handshake's.
    const closed = await new Promise<boolean>((resolve) => {
      const socket = net.connect(portOf(proxy), "127.0.0.1", () => socket.write(Buffer.from([0x16])));
      socket.on("error", () => {});
      socket.on("close", () => resolve(true));
      setTimeout(() => resolve(false), 5000);
    });
    expect(closed).toBe(true);
    expect(proxy.metrics.render()).toMatch(/apisnoop_proxy_tls_handshake_errors_total\{kind="timeout"\} 1/);
  });

  it("closes a connection that waits for its handshake turn longer than the handshake timeout", async () => {
    const proxy = await proxyWith({ limits: { handshakesPerAddress: 1, handshakeTimeoutMs: 300 } });
    const port = portOf(proxy);
    const hold = () =>
      new Promise<number>((resolve) => {
        const started = Date.now();
        const socket = net.connect({ port, host: "127.0.0.1", localAddress: "127.0.0.3" }, () =>
          socket.write(Buffer.from([0x16, 0x03, 0x01])),
        );
        socket.on("error", () => {});
        socket.on("close", () => resolve(Date.now() - started));
      });
    // Three stalled handshakes at once: the first times out in its handshake, the second gets its turn
    // then and times out in it too, the third has waited the whole timeout by then and is closed.
    const held = await Promise.all([hold(), hold(), hold()]);
    for (const ms of held) expect(ms).toBeLessThan(5000);
    expect(proxy.metrics.render()).toMatch(/apisnoop_proxy_timeouts_total\{phase="handshake turn"\} [1-9]/);
  });

  it("presents the one leaf issued at start to every SNI name, signing nothing", async () => {
    const proxy = await proxyWith();
    expect(await get(proxy, "/api", "localhost")).toBe(200);
    for (let i = 0; i < 50; i++) {
      expect(await get(proxy, "/api", `n${i}.example`)).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
    }
    expect(proxy.metrics.tlsUnknownNames).toBe(50);
    expect(proxy.metrics.render()).toContain("apisnoop_proxy_leaf_certificates 1\n");
  });
});

/** What a client read of a watch: status, body, whether the response ended complete. */
interface WatchRead {
  status: number;
  body: string;
  complete: boolean;
  error: string | null;
}

function watchThrough(proxy: RunningProxy, urlPath: string): Promise<WatchRead> {
  return new Promise((resolve) => {
    const req = https.request(
      { host: "127.0.0.1", port: portOf(proxy), path: urlPath, ca: proxy.ca.certificatePem, agent: false },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on("error", (error: NodeJS.ErrnoException) =>
          resolve({ status: res.statusCode ?? 0, body, complete: false, error: error.code ?? error.message }),
        );
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body, complete: res.complete, error: null }),
        );
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) =>
      resolve({ status: 0, body: "", complete: false, error: error.code ?? error.message }),
    );
    req.end();
  });
}

describe("drain", () => {
  it("finishes requests in flight, ends watches between events, and takes no new connection", async () => {
    const proxy = await proxyWith();
    const slow = get(proxy, "/api?delayMs=1500");
    const watch = watchThrough(proxy, "/api/v1/pods?watch=1");
    // Both requests must be at the proxy before it drains (the machine may be slow).
    while (proxy.metrics.inFlight < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    const summary = await proxy.drain(20_000);
    expect(summary).toMatchObject({ inFlight: 2, watchesEnded: 1, watchesCut: 0, cut: 0 });
    expect(await slow).toBe(200);
    // As the apiserver ends a watch at its timeout: a complete response (what becomes of its connection:
    // drain.test.ts).
    const read = await watch;
    expect(read).toMatchObject({ status: 200, complete: true, error: null });
    expect(read.body).toBe('{"type":"ADDED","object":{}}\n');
    expect(await get(proxy, "/api")).toBe("ECONNREFUSED");
  });

  it("ends a watch after the event in progress, never inside it", async () => {
    const proxy = await proxyWith();
    const watch = watchThrough(proxy, "/api/v1/pods?watch=1&halfEvent=1");
    while (proxy.metrics.inFlight < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    const summary = await proxy.drain(20_000);
    expect(summary).toMatchObject({ inFlight: 1, watchesEnded: 1, watchesCut: 0, cut: 0 });
    const read = await watch;
    expect(read).toMatchObject({ status: 200, complete: true, error: null });
    expect(read.body).toBe('{"type":"ADDED","object":{}}\n{"type":"MODIFIED","object":{"a":1}}\n');
  });

  it("cuts a watch whose framing it cannot follow", async () => {
    const proxy = await proxyWith();
    const watch = watchThrough(proxy, "/api/v1/pods?watch=1&cbor=1");
    while (proxy.metrics.inFlight < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(await proxy.drain(20_000)).toMatchObject({ watchesEnded: 0, watchesCut: 1, cut: 0 });
    expect((await watch).complete).toBe(false);
  });
});
