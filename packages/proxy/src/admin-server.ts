import { X509Certificate } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ProxyMetrics } from "./metrics";

/**
 * The admin port: `/healthz` (200 "ok" once the proxy serves), `/metrics` (Prometheus text) and
 * `/ca.pem` (the CA certificate clients must trust — public, never its key: `apisnoop kubeconfig
 * --ca-from` reads it). Separate from the proxy port so scraping never mixes with API traffic.
 */
export function createAdminServer(metrics: ProxyMetrics, healthy: () => boolean, caPem: string): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/ca.pem") {
      res.writeHead(200, { "content-type": "application/x-pem-file" });
      res.end(caPem);
    } else if (path === "/healthz") {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain; charset=utf-8" });
      res.end(ok ? "ok\n" : "starting\n");
    } else if (path === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
      res.end(metrics.render());
    } else {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found: try /healthz, /metrics or /ca.pem\n");
    }
  });
}

/** Listens and resolves to the bound address. */
export function listenOn(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** The SHA-256 fingerprint of a PEM certificate (`AB:CD:…`), for people to compare two copies of a CA. */
export function caFingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/**
 * Reads the CA certificate of a running proxy from its admin address (`http://127.0.0.1:8444`), and
 * checks it is a CA certificate. Plain HTTP: on loopback, or where the path to the proxy is trusted —
 * compare the fingerprint with the one the proxy printed. Rejects with a one-line message.
 */
export async function fetchProxyCa(adminUrl: string): Promise<string> {
  const url = `${adminUrl.replace(/\/+$/, "")}/ca.pem`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    const cause = (error as Error).cause as Error | undefined;
    throw new Error(
      `cannot read the proxy's CA from ${url}: ${cause?.message ?? (error as Error).message} (is 'apisnoop proxy' running with that --admin-listen?)`,
    );
  }
  if (!response.ok) throw new Error(`cannot read the proxy's CA from ${url}: HTTP ${response.status}`);
  const pem = (await response.text()).slice(0, 64 * 1024);
  try {
    if (!new X509Certificate(pem).ca) throw new Error("not a CA certificate");
  } catch (error) {
    throw new Error(`${url} is not the proxy's CA certificate (${(error as Error).message})`);
  }
  return pem;
}
