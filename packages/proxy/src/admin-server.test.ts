import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminServer, listenOn } from "./admin-server";
import { ProxyMetrics } from "./metrics";

const CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

describe("the admin server", () => {
  let server: http.Server;
  let base: string;
  let healthy = false;

  beforeAll(async () => {
    server = createAdminServer(new ProxyMetrics(), () => healthy, CA_PEM);
    const address = await listenOn(server, "127.0.0.1", 0);
    base = `http://127.0.0.1:${address.port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("says whether the proxy serves yet", async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(503);
    healthy = true;
    const ready = await fetch(`${base}/healthz`);
    expect([ready.status, await ready.text()]).toEqual([200, "ok\n"]);
  });

  it("hands out the CA certificate clients must trust, and nothing else of it", async () => {
    const response = await fetch(`${base}/ca.pem`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-pem-file");
    expect(await response.text()).toBe(CA_PEM);
    const other = await fetch(`${base}/ca.key`);
    expect([other.status, await other.text()]).toEqual([
      404,
      "not found: try /healthz, /metrics or /ca.pem\n",
    ]);
  });
});
