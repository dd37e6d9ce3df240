import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ProxyMetrics } from "./metrics";

/**
 * The admin port: `/healthz` (200 "ok" once the proxy serves) and `/metrics` (Prometheus text). Separate
 * from the proxy port so scraping never mixes with API traffic.
 */
export function createAdminServer(metrics: ProxyMetrics, healthy: () => boolean): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      const ok = healthy();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain; charset=utf-8" });
      res.end(ok ? "ok\n" : "starting\n");
    } else if (path === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
      res.end(metrics.render());
    } else {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found: try /healthz or /metrics\n");
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
