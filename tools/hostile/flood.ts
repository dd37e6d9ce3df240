/**
 * The resource flood shared by `flood.rig.test.ts` and `npm run bench:flood`: against an `apisnoop proxy`
 * process in front of the rig, 700 idle keep-alive TLS connections and 2,000 TLS handshakes, each naming
 * a different server (SNI), while real kubectl goes through the proxy; the proxy's resident memory and
 * kubectl's latency are taken before and during, in the same run. The flood comes from a client address
 * of its own (127.0.0.2), as a hostile pod's would; kubectl from 127.0.0.1. Given a kubeconfig straight to
 * the apiserver, kubectl is timed that way too, in turns with the proxied runs: how much the flood slows
 * this machine itself (its client and the proxy share the cores with kubectl).
 */
import { execFile } from "node:child_process";
import net from "node:net";
import tls from "node:tls";
import { promisify } from "node:util";
import type { ProxyProcess } from "./proxy-process";

/** Where the flood comes from: another loopback address than kubectl's, as another pod would be. */
export const FLOOD_ADDRESS = "127.0.0.2";

export interface FloodOptions {
  idleConnections: number;
  handshakes: number;
  /** kubectl calls timed before the flood and again during it. */
  kubectlRuns: number;
}

export interface FloodFigures {
  rssBeforeMiB: number;
  rssAfterMiB: number;
  /** kubectl wall times (ms, sorted) before the flood and during it. */
  kubectlBeforeMs: number[];
  kubectlDuringMs: number[];
  /** The same, straight to the apiserver (empty without a direct kubeconfig). */
  directBeforeMs: number[];
  directDuringMs: number[];
  /** kubectl runs that failed (their wall time is in the lists above), before and during. */
  kubectlFailedBefore: number;
  kubectlFailedDuring: number;
  /** CPU the proxy process spent (user + system) from the flood's start to its end, ms. */
  proxyCpuMs: number;
  /** How long the handshakes took, ms. */
  handshakesMs: number;
  handshakesDone: number;
  handshakesFailed: number;
  idleHeld: number;
  /** From the proxy's /metrics at the end of the flood. */
  leafCertificates: number;
  unknownServerNames: number;
  connectionsOpen: number;
  /** Times the flood's address waited for its handshake rate (`--handshake-rate-per-address`). */
  rateDelays: number;
  /** HTTP/2 sessions to the apiserver the proxy opened during the flood (its requests reuse a few). */
  upstreamSessionsOpened: number;
  /** Requests sent over the HTTP/1.1 pool for what the apiserver takes as unauthenticated, during the flood. */
  upstreamUnauthenticated: number;
  /** Connections the proxy closed for a timeout during the flood, by phase. */
  timeouts: string;
  seconds: number;
}

const UPSTREAM_OPENED = "apisnoop_proxy_upstream_sessions_opened_total";
const UPSTREAM_UNAUTHENTICATED = "apisnoop_proxy_upstream_unauthenticated_requests_total";

export const DEFAULT_FLOOD: FloodOptions = { idleConnections: 700, handshakes: 2000, kubectlRuns: 7 };

/** Runs kubectl once through `kubeconfig`; resolves with its wall time in ms (rejects when it fails). */
export async function timedKubectl(kubeconfig: string): Promise<number> {
  const started = performance.now();
  await promisify(execFile)(
    "kubectl",
    ["--kubeconfig", kubeconfig, "get", "--raw", "/api/v1/namespaces/default"],
    {
      timeout: 60_000,
    },
  );
  return performance.now() - started;
}

/** The median of a sorted list. */
export function median(sorted: number[]): number {
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/** A TCP connection to the proxy from the flood's address; a failure to connect goes to `failed`. */
function floodSocket(port: number, failed: () => void): net.Socket {
  return net.connect({ port, host: "127.0.0.1", localAddress: FLOOD_ADDRESS }).on("error", failed);
}

/**
 * One keep-alive TLS connection that makes a request, then idles, asking again every 20 s as a quiet
 * client does (the proxy closes a connection that sends no request for 30 s).
 */
function idleConnection(port: number): Promise<tls.TLSSocket | null> {
  return new Promise((resolve) => {
    const socket = tls.connect(
      { socket: floodSocket(port, () => resolve(null)), servername: "localhost", rejectUnauthorized: false },
      () => socket.write("GET /version HTTP/1.1\r\nHost: localhost\r\nUser-Agent: flood-idle\r\n\r\n"),
    );
    let answer = "";
    const onData = (chunk: Buffer) => {
      answer += chunk.toString("latin1");
      // The whole answer is in when its declared length has arrived (the apiserver sends one for /version).
      const length = Number(/content-length: (\d+)/i.exec(answer)?.[1] ?? Number.NaN);
      const bodyStart = answer.indexOf("\r\n\r\n");
      if (bodyStart !== -1 && answer.length - bodyStart - 4 >= length) {
        socket.off("data", onData);
        socket.resume();
        const again = setInterval(
          () => socket.write("GET /version HTTP/1.1\r\nHost: localhost\r\nUser-Agent: flood-idle\r\n\r\n"),
          20_000,
        );
        socket.once("close", () => clearInterval(again));
        socket.setTimeout(0);
        resolve(socket);
      }
    };
    socket.on("data", onData);
    socket.on("error", () => resolve(null));
    socket.setTimeout(60_000, () => {
      socket.destroy();
      resolve(null);
    });
  });
}

/** One full TLS handshake naming `servername`, then closed. */
function handshake(port: number, servername: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect(
      { socket: floodSocket(port, () => resolve(false)), servername, rejectUnauthorized: false },
      () => {
        socket.end();
        resolve(true);
      },
    );
    socket.on("error", () => resolve(false));
  });
}

async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

/**
 * Floods `proxy` and measures; the idle connections are closed again before it resolves. With
 * `directKubeconfig`, each kubectl run through the proxy is followed by one straight to the apiserver.
 */
export async function flood(
  proxy: ProxyProcess,
  kubeconfig: string,
  options = DEFAULT_FLOOD,
  directKubeconfig?: string,
): Promise<FloodFigures> {
  const started = performance.now();
  await timedKubectl(kubeconfig); // warm: kubectl's discovery cache, the proxy's upstream pool
  const failed = { before: 0, during: 0 };
  /** A proxied run's wall time; a failed run (kubectl's own 10 s handshake timeout) is counted too. */
  const proxied = async (when: "before" | "during") => {
    const runStarted = performance.now();
    try {
      return await timedKubectl(kubeconfig);
    } catch {
      failed[when]++;
      return performance.now() - runStarted;
    }
  };
  const kubectlBeforeMs: number[] = [];
  const directBeforeMs: number[] = [];
  for (let i = 0; i < options.kubectlRuns; i++) {
    kubectlBeforeMs.push(await proxied("before"));
    if (directKubeconfig) directBeforeMs.push(await timedKubectl(directKubeconfig));
  }
  const rssBeforeMiB = proxy.rssBytes() / 2 ** 20;
  const cpuBeforeMs = proxy.cpuMs();
  const upstreamOpenedBefore = await proxy.metric(UPSTREAM_OPENED);
  const upstreamUnauthenticatedBefore = await proxy.metric(UPSTREAM_UNAUTHENTICATED);

  const idle = (await pool(options.idleConnections, 32, () => idleConnection(proxy.port))).filter(
    (socket): socket is tls.TLSSocket => socket !== null,
  );
  let handshakesDone = 0;
  let handshakesFailed = 0;
  const handshakesStarted = performance.now();
  const handshaking = pool(options.handshakes, 32, async (i) => {
    if (await handshake(proxy.port, `n${i}.flood.example`)) handshakesDone++;
    else handshakesFailed++;
  });
  const kubectlDuringMs: number[] = [];
  const directDuringMs: number[] = [];
  let handshakesMs = 0;
  void handshaking.then(() => {
    handshakesMs = performance.now() - handshakesStarted;
  });
  for (let i = 0; i < options.kubectlRuns || handshakesMs === 0; i++) {
    kubectlDuringMs.push(await proxied("during"));
    if (directKubeconfig) directDuringMs.push(await timedKubectl(directKubeconfig));
    if (i >= 50) break;
  }
  await handshaking;
  const proxyCpuMs = proxy.cpuMs() - cpuBeforeMs;
  const upstreamSessionsOpened = (await proxy.metric(UPSTREAM_OPENED)) - upstreamOpenedBefore;
  const upstreamUnauthenticated =
    (await proxy.metric(UPSTREAM_UNAUTHENTICATED)) - upstreamUnauthenticatedBefore;
  const rssAfterMiB = proxy.rssBytes() / 2 ** 20;
  const metrics = await proxy.metrics();
  for (const socket of idle) socket.destroy();
  return {
    rssBeforeMiB,
    rssAfterMiB,
    kubectlBeforeMs: kubectlBeforeMs.sort((a, b) => a - b),
    kubectlDuringMs: kubectlDuringMs.sort((a, b) => a - b),
    directBeforeMs: directBeforeMs.sort((a, b) => a - b),
    directDuringMs: directDuringMs.sort((a, b) => a - b),
    kubectlFailedBefore: failed.before,
    kubectlFailedDuring: failed.during,
    proxyCpuMs,
    handshakesMs,
    handshakesDone,
    handshakesFailed,
    idleHeld: idle.length,
    leafCertificates: metrics.get("apisnoop_proxy_leaf_certificates") ?? Number.NaN,
    unknownServerNames: metrics.get("apisnoop_proxy_tls_unknown_server_names_total") ?? Number.NaN,
    connectionsOpen: metrics.get("apisnoop_proxy_connections_open") ?? Number.NaN,
    rateDelays: metrics.get("apisnoop_proxy_tls_handshake_rate_delays_total") ?? Number.NaN,
    upstreamSessionsOpened,
    upstreamUnauthenticated,
    timeouts: [...metrics]
      .filter(([series]) => series.startsWith("apisnoop_proxy_timeouts_total"))
      .map(([series, n]) => `${series.replace("apisnoop_proxy_timeouts_total", "")} ${n}`)
      .join(", "),
    seconds: (performance.now() - started) / 1000,
  };
}

/** The figures as the README's table rows and one summary line. */
export function describeFlood(f: FloodFigures): string {
  const before = median(f.kubectlBeforeMs);
  const during = median(f.kubectlDuringMs);
  const directBefore = median(f.directBeforeMs);
  const directDuring = median(f.directDuringMs);
  return [
    `proxy RSS: ${f.rssBeforeMiB.toFixed(0)} MiB before, ${f.rssAfterMiB.toFixed(0)} MiB with ${f.idleHeld} idle connections after ${f.handshakesDone} handshakes (${f.handshakesFailed} failed) with distinct SNI names: +${(f.rssAfterMiB - f.rssBeforeMiB).toFixed(0)} MiB`,
    `handshakes: ${f.handshakesDone} in ${(f.handshakesMs / 1000).toFixed(1)} s (waited for the rate ${f.rateDelays} times); proxy CPU during the flood ${(f.proxyCpuMs / 1000).toFixed(1)} s (${(f.proxyCpuMs / Math.max(1, f.handshakesDone + f.handshakesFailed)).toFixed(2)} ms a handshake)`,
    `kubectl through the proxy, median of ${f.kubectlBeforeMs.length} / ${f.kubectlDuringMs.length}: ${before.toFixed(0)} ms before, ${during.toFixed(0)} ms during the flood: ${(during / before).toFixed(2)}x; failed runs ${f.kubectlFailedBefore} / ${f.kubectlFailedDuring}`,
    ...(f.directBeforeMs.length > 0
      ? [
          `kubectl straight to the apiserver (this machine's own slowdown), median of ${f.directBeforeMs.length} / ${f.directDuringMs.length}: ${directBefore.toFixed(0)} ms before, ${directDuring.toFixed(0)} ms during: ${(directDuring / directBefore).toFixed(2)}x`,
        ]
      : []),
    `leaf certificates held: ${f.leafCertificates}; handshakes naming an unknown server: ${f.unknownServerNames}; connections open at the end: ${f.connectionsOpen}; upstream HTTP/2 sessions opened during the flood: ${f.upstreamSessionsOpened} (requests over the unauthenticated HTTP/1.1 pool: ${f.upstreamUnauthenticated}); timeouts: ${f.timeouts}; ${f.seconds.toFixed(0)} s`,
  ].join("\n");
}
