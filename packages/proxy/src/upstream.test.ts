/**
 * BoundedUpstreamPool's places, without sockets: a bound on connections and on the queue, and each
 * client address's share of both, so that one address holding its connections delays only itself.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type BoundedPoolLimits, BoundedUpstreamPool, PoolPlace } from "./upstream";

const upstream = {
  server: "https://127.0.0.1:1",
  host: "127.0.0.1",
  port: 1,
  authority: "127.0.0.1:1",
  basePath: "",
  serverName: undefined,
  ca: undefined,
  rejectUnauthorized: true,
  clientCertificate: null,
  clusterName: "test",
  authorize: async () => {},
};

let pools: BoundedUpstreamPool[] = [];

afterEach(() => {
  for (const pool of pools) pool.destroy();
  pools = [];
});

function poolWith(limits: BoundedPoolLimits): BoundedUpstreamPool {
  const pool = new BoundedUpstreamPool(upstream, limits);
  pools.push(pool);
  return pool;
}

/** Takes a place for `address`; records in `started` when its turn comes. */
function take(pool: BoundedUpstreamPool, address: string, started: string[], name: string): PoolPlace {
  const place = pool.take(address);
  if (!(place instanceof PoolPlace)) throw new Error(`${name} refused: ${place}`);
  place.whenTurn(() => started.push(name));
  return place;
}

describe("BoundedUpstreamPool", () => {
  it("holds an address to its share of the connections while others are served", () => {
    const pool = poolWith({ sockets: 4, queued: 8, socketsPerAddress: 2, queuedPerAddress: 2 });
    const started: string[] = [];
    const a1 = take(pool, "10.0.0.1", started, "a1");
    take(pool, "10.0.0.1", started, "a2");
    // Connections are free, but not for this address: it waits for its own.
    take(pool, "10.0.0.1", started, "a3");
    const a4 = take(pool, "10.0.0.1", started, "a4");
    expect(pool.take("10.0.0.1")).toBe("address queue");
    expect(started).toEqual(["a1", "a2"]);
    expect(pool.stats()).toMatchObject({ active: 2, queued: 2, refused: 1 });
    // Another address gets a connection at once.
    take(pool, "10.0.0.2", started, "b1");
    expect(started).toEqual(["a1", "a2", "b1"]);
    // The address's own request ends: its next one goes.
    a1.release();
    expect(started).toEqual(["a1", "a2", "b1", "a3"]);
    // A request that leaves before its turn gives its queue place back, once, and never goes.
    a4.release();
    a4.release();
    expect(pool.stats()).toMatchObject({ active: 3, queued: 0 });
    expect(pool.take("10.0.0.1")).toBeInstanceOf(PoolPlace);
    expect(started).toEqual(["a1", "a2", "b1", "a3"]);
  });

  it("answers 'queue' past the whole queue, and gives a freed connection to the longest waiting address below its share", () => {
    const pool = poolWith({ sockets: 2, queued: 3, socketsPerAddress: 1, queuedPerAddress: 3 });
    const started: string[] = [];
    const a1 = take(pool, "a", started, "a1");
    const b1 = take(pool, "b", started, "b1");
    take(pool, "a", started, "a2");
    take(pool, "b", started, "b2");
    take(pool, "c", started, "c1");
    expect(pool.take("d")).toBe("queue");
    expect(pool.stats()).toMatchObject({ active: 2, queued: 3, sent: 2, refused: 1 });
    // b1 ends: a2 waited longest, but "a" holds its share; b2 goes.
    b1.release();
    expect(started).toEqual(["a1", "b1", "b2"]);
    a1.release();
    expect(started).toEqual(["a1", "b1", "b2", "a2"]);
  });

  it("takes its per-address shares from the bounds when none are given", () => {
    const pool = poolWith({ sockets: 8, queued: 16 });
    const started: string[] = [];
    for (let i = 0; i < 4; i++) take(pool, "a", started, `a${i}`);
    // A quarter of the connections, an eighth of the queue.
    expect(started).toHaveLength(2);
    expect(pool.take("a")).toBe("address queue");
    expect(pool.stats()).toMatchObject({ active: 2, queued: 2 });
  });
});
