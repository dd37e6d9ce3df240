import { createServer } from "node:net";

/**
 * A TCP port the kernel considers free on `host` at the time of asking, closed again for the caller to
 * bind next: the one way tests, benchmarks and the rig pick a port. Another process may take it in
 * between; callers that cannot afford that retry (the rig does on "address already in use").
 */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no free port")),
      );
    });
  });
}
