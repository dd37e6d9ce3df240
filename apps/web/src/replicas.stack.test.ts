/**
 * Web replicas: three web processes on one PostgreSQL behind one address, sharing live updates through
 * Socket.IO's PostgreSQL adapter. A hit stored through replica 1 reaches a Chromium page served by replica
 * 3 (delivery asserted; how long it takes is `npm run bench:replicas`' figure, beside the same replica's),
 * and replica 3's HTTP API shows it too. Then two real proxies send their traffic through the shared
 * address while the replica serving one of them is SIGKILLed in the middle of storing a batch: the proxy
 * reconnects to another replica, and the stored hits equal the requests answered, exactly.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "@apisnoop/db";
import { type IngestAck, ingestConnection, sourceFromUserAgent } from "@apisnoop/protocol";
import pg from "pg";
import { io, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../tools/net/free-port";
import { startTcpBalancer, type TcpBalancer } from "../../../tools/net/tcp-balancer";
import { startRig } from "../../../tools/rig/lifecycle";
import { launchBrowser, type TestBrowser } from "./testing/browser";
import { type Child, proxyProcess, webProcess } from "./testing/processes";
import { hitBatch } from "./testing/test-stack";

const TOKEN = randomBytes(20).toString("hex");
const REPLICAS = 3;
const PROXIES = 2;
const REQUESTS_PER_PROXY = Number(process.env.APISNOOP_REPLICA_REQUESTS ?? 4000);
const CONCURRENCY = 8;
const RUN = randomBytes(4).toString("hex");

interface Replica {
  child: Child;
  port: number;
  url: string;
}

describe("web replicas on one database", () => {
  let workDir: string;
  let postgres: EmbeddedPostgres;
  let db: pg.Client;
  const replicas: Replica[] = [];
  let balancer: TcpBalancer;
  let browser: TestBrowser | null = null;
  const proxies: Array<Child & { port: number; caDir: string }> = [];

  beforeAll(async () => {
    await startRig("global-setup", () => {});
    workDir = mkdtempSync(path.join(tmpdir(), "apisnoop-replicas-"));
    chmodSync(workDir, 0o755); // as root, PostgreSQL's owner must reach its data dir
    postgres = await startEmbeddedPostgres({ dataDir: path.join(workDir, "pgdata"), port: await freePort() });
    db = new pg.Client({ connectionString: postgres.url });
    await db.connect();
    for (let i = 0; i < REPLICAS; i++) {
      const port = await freePort();
      const child = webProcess({
        name: `web-${i + 1}`,
        databaseUrl: postgres.url,
        ingestToken: TOKEN,
        port,
        cacheDir: path.join(workDir, `cache-${i}`),
      });
      replicas.push({ child, port, url: `http://127.0.0.1:${port}` });
    }
    // Together, as a Deployment's pods start: migrations and release loading meet on one database.
    await Promise.all(replicas.map((replica) => replica.child.start()));
    balancer = await startTcpBalancer(replicas.map((replica) => replica.port));
    for (let i = 0; i < PROXIES; i++) {
      const port = await freePort();
      const caDir = path.join(workDir, `ca-${i}`);
      const proxy = proxyProcess({
        name: `proxy-${i + 1}`,
        proxyId: `replica-test-${i + 1}`,
        port,
        caDir,
        spoolDir: path.join(workDir, `spool-${i}`),
        ingestUrl: `http://127.0.0.1:${balancer.port}`,
        ingestToken: TOKEN,
      });
      await proxy.start();
      proxies.push(Object.assign(proxy, { port, caDir }));
    }
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    for (const proxy of proxies) await proxy.kill("SIGTERM");
    await balancer?.close();
    for (const replica of replicas) await replica.child.kill("SIGTERM");
    await db?.end();
    await postgres?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it("shows a hit stored through replica 1 on a page served by replica 3", async () => {
    const [first, , third] = replicas as [Replica, Replica, Replica];
    const operationId = "readCoreV1NamespacedConfigMap";
    const before = await hitsOf(third.url, operationId); // fills replica 3's report cache
    browser = await launchBrowser();
    const { page } = browser;
    await page.goto(`${third.url}/?release=1.34`);
    await page.locator('[data-testid="live-indicator"][data-status="live"]').waitFor();
    await page.evaluate((id) => {
      const arc = document.querySelector(`path[data-operation-id="${id}"]`) as Element;
      const seen = window as unknown as { __changed?: boolean };
      new MutationObserver(() => (seen.__changed = true)).observe(arc, {
        attributes: true,
        attributeFilter: ["data-hits"],
      });
    }, operationId);

    const connection = ingestConnection(first.url, { token: TOKEN, proxyId: "replica-test-probe" });
    const ingest: Socket = io(connection.url, connection.options);
    try {
      const ack = (await ingest
        .timeout(30_000)
        .emitWithAck(
          "batch",
          hitBatch([sourceFromUserAgent(`probe/${RUN}`)], [[0, operationId, 3]], "1.34"),
        )) as IngestAck;
      expect(ack).toMatchObject({ ok: true, duplicate: false });
      // Arrival, not speed: the arc's count changes on the page that is open.
      await page.waitForFunction(
        () => (window as unknown as { __changed?: boolean }).__changed === true,
        undefined,
        { timeout: 30_000 },
      );
      expect(await page.getAttribute(`path[data-operation-id="${operationId}"]`, "data-hits")).toBe(
        String(before + 3),
      );
      // Replica 3 dropped its cached report when replica 1 committed: its API answers the new count.
      expect(await hitsOf(third.url, operationId)).toBe(before + 3);
      expect(browser.errors).toEqual([]);
    } finally {
      ingest.disconnect();
    }
  });

  it("loses nothing when a replica is SIGKILLed mid-ingest, and its proxy reconnects to another", async () => {
    // Each proxy's uplink connected through the balancer when it started: the first connection is
    // proxy 1's, and its replica is the one to kill.
    const target = replicas.find((replica) => replica.port === balancer.connections[0]?.backend) as Replica;
    expect(target).toBeDefined();
    const applicationName = `apisnoop-web/${target.child.pid}`;
    const paths = [
      "/api/v1/namespaces/default",
      "/api/v1/namespaces",
      "/api/v1/namespaces/default/configmaps",
      "/apis/apps/v1/namespaces/default/deployments",
      "/api/v1/namespaces/default/pods/nope",
    ];
    let answered = 0;
    const perProxy = proxies.map((proxy) => {
      const agent = new https.Agent({
        keepAlive: true,
        maxSockets: CONCURRENCY,
        ca: readFileSync(path.join(proxy.caDir, "certs", "ca.pem")),
      });
      let issued = 0;
      const request = (n: number): Promise<boolean> =>
        new Promise((resolve) => {
          const req = https.request(
            {
              host: "127.0.0.1",
              port: proxy.port,
              path: paths[n % paths.length],
              agent,
              // Many sources and endpoints: batches of many rows, so transactions take a while.
              headers: { "user-agent": `replica-test-${RUN}/${n % 50}` },
            },
            (res) => {
              res.resume();
              res.on("end", () => resolve(res.statusCode !== undefined && res.statusCode < 500));
              res.on("error", () => resolve(false));
            },
          );
          req.on("error", () => resolve(false));
          req.end();
        });
      const worker = async () => {
        while (issued < REQUESTS_PER_PROXY) {
          const n = issued++;
          while (!(await request(n))) await new Promise((resolve) => setTimeout(resolve, 50));
          answered++;
        }
      };
      return { agent, run: Promise.all(Array.from({ length: CONCURRENCY }, worker)) };
    });

    // Kill the replica while one of its connections holds an open transaction that has written.
    while (answered < (PROXIES * REQUESTS_PER_PROXY) / 4) await new Promise((r) => setTimeout(r, 20));
    let polls = 0;
    for (;;) {
      polls++;
      const { rows } = await db.query(
        `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND backend_xid IS NOT NULL`,
        [applicationName],
      );
      if (rows.length > 0) break;
      if (polls > 200_000) throw new Error(`replica ${applicationName} never seen storing a batch`);
    }
    const killedAt = Date.now();
    await target.child.kill("SIGKILL");
    await Promise.all(perProxy.map((p) => p.run));
    for (const p of perProxy) p.agent.destroy();

    const stored = async (): Promise<number> => {
      const { rows } = await db.query<{ n: string }>(
        `SELECT coalesce(sum(h."count"), 0)::text AS n FROM "HitRollup" h JOIN "Source" s ON s."id" = h."sourceId"
         WHERE starts_with(s."userAgent", $1)`,
        [`replica-test-${RUN}/`],
      );
      return Number(rows[0]?.n);
    };
    const deadline = Date.now() + 120_000;
    let count = await stored();
    while (count < answered && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      count = await stored();
    }
    await new Promise((resolve) => setTimeout(resolve, 3000)); // anything more would be counted twice
    count = await stored();
    const after = balancer.connections.filter((connection) => connection.at > killedAt);
    console.log(
      `replicas: ${answered} requests answered through ${PROXIES} proxies, ${count} hits stored; ` +
        `replica on port ${target.port} SIGKILLed with a write transaction open (${polls} polls); ` +
        `reconnections after: ${after.map((c) => c.backend).join(", ") || "none"}`,
    );
    expect(answered).toBe(PROXIES * REQUESTS_PER_PROXY);
    expect(count).toBe(answered);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((connection) => connection.backend !== target.port)).toBe(true);
    const batches = await db.query<{ proxyId: string }>(
      `SELECT DISTINCT "proxyId" FROM "IngestBatch" WHERE "receivedAt" > to_timestamp($1::double precision / 1000)`,
      [killedAt],
    );
    expect(batches.rows.map((row) => row.proxyId).sort()).toEqual(["replica-test-1", "replica-test-2"]);
  }, 600_000);
});

/** The hits of one endpoint in a replica's coverage API (all sources, release 1.34). */
async function hitsOf(base: string, operationId: string): Promise<number> {
  const response = await fetch(`${base}/api/v1/coverage?release=1.34`);
  const body = (await response.json()) as { endpoints: Array<{ operationId: string; hits: number }> };
  return body.endpoints.find((endpoint) => endpoint.operationId === operationId)?.hits ?? 0;
}
