import net from "node:net";

/** A connection the balancer passed on: when, and to which backend port. */
export interface BalancedConnection {
  at: number;
  backend: number;
  /**
   * The backend ended it before sending a byte (set when it closes): a reset of a connection that was
   * still in its accept queue when it closed its port reads like this, and so does a connection it closed
   * while idle.
   */
  closedUnanswered?: boolean;
}

/** One address in front of several backends, as a Kubernetes Service is in front of a Deployment's pods. */
export interface TcpBalancer {
  port: number;
  /** Every connection passed on so far, in order. */
  connections: BalancedConnection[];
  close(): Promise<void>;
}

/**
 * Listens on a free loopback port and passes each connection to the next backend in turn, skipping
 * backends that refuse it (a Service drops a dead pod from its endpoints; this finds out by trying).
 * Bytes are relayed untouched, so WebSocket upgrades pass through as they would through kube-proxy.
 */
export async function startTcpBalancer(backends: number[]): Promise<TcpBalancer> {
  const connections: BalancedConnection[] = [];
  const open = new Set<net.Socket>();
  let next = 0;
  const server = net.createServer((client) => {
    open.add(client);
    client.on("close", () => open.delete(client));
    client.pause();
    const attempt = (tries: number) => {
      if (tries >= backends.length) {
        client.destroy();
        return;
      }
      const backend = backends[next++ % backends.length] as number;
      const upstream = net.connect(backend, "127.0.0.1");
      let connected = false;
      upstream.on("error", () => {
        if (connected) client.destroy();
        else attempt(tries + 1);
      });
      upstream.once("connect", () => {
        connected = true;
        open.add(upstream);
        const connection: BalancedConnection = { at: Date.now(), backend };
        upstream.on("close", () => {
          open.delete(upstream);
          if (upstream.bytesRead === 0 && !client.destroyed) connection.closedUnanswered = true;
          client.destroy();
        });
        connections.push(connection);
        client.on("error", () => upstream.destroy());
        client.on("close", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
