import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { freePort } from "./free-port";

describe("freePort", () => {
  it("gives a port that can be bound next, on the host asked for", async () => {
    const port = await freePort("127.0.0.1");
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    expect((server.address() as { port: number }).port).toBe(port);
    await new Promise((resolve) => server.close(resolve));
  });

  it("fails on a host it cannot listen on", async () => {
    // 192.0.2.0/24 is TEST-NET-1: never an address of this machine.
    await expect(freePort("192.0.2.1")).rejects.toThrow(/EADDRNOTAVAIL/);
  });
});
