import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { INGEST_PATH, type IngestBatch } from "@apisnoop/protocol";
import next from "next";
import { Server } from "socket.io";
import type { DashboardData } from "../data/dashboard-data";
import { serveHttpApi } from "../http/http-api";
import { refuseUpgrade, setupIngest } from "../realtime/ingest";
import { type ScopeResolver, setupLive } from "../realtime/live";
import { committedHits, LiveHub } from "../realtime/live-hub";
import { type ReplicaLink, setupReplicas } from "../realtime/replicas";
import { provideDashboardData } from "./app-context";
import { challengeViewer, HEALTH_PATH, type ViewerCredentials, viewerCheck } from "./viewer-auth";

/** apps/web: where Next finds its app and its build. */
export const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface DashboardServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Next in dev mode (compiles on demand, hot reload) instead of serving the production build. */
  dev: boolean;
  data: DashboardData;
  /** The ingest namespace's shared secret; null refuses all ingest. */
  ingestToken: string | null;
  recordBatch: (batch: IngestBatch) => Promise<{ duplicate: boolean; release: string }>;
  resolveScope: ScopeResolver;
  /**
   * Join the other web processes on this database (replicas.ts); `onRemoteCommit` runs when one of them
   * stored a batch, with the WAL position after its commit (`commitFence` of the storing process) or null.
   * Null: this process alone.
   */
  replicas: {
    databaseUrl: string;
    applicationName: string;
    commitFence?: () => string | null;
    onRemoteCommit: (fence: string | null) => void;
  } | null;
  /** Pages receiving live updates at once; more are refused (and retry later). Default 256. */
  maxLiveViewers?: number;
  /** Deltas one page receives per second at most (default LIVE_MAX_DELTAS_PER_SECOND). */
  liveDeltasPerSecond?: number;
  /** Who may view the dashboard (null: anyone who reaches it). The ingest has its own token. */
  viewers?: ViewerCredentials | null;
  log: (line: string) => void;
}

/** Socket.IO's path for browsers. */
const BROWSER_SOCKET_PATH = "/socket.io/";

export interface RunningDashboard {
  /** `http://host:port` */
  url: string;
  port: number;
  hub: LiveHub;
  /**
   * Shows a batch this process stored itself (not received on the ingest namespace: an import) as
   * ingest shows one: to this process's live pages and to the other replicas.
   */
  publishCommitted(batch: IngestBatch, release: string): void;
  close(): Promise<void>;
}

/**
 * Starts the one HTTP server of the dashboard: Socket.IO (ingest and live namespaces), the HTTP API, and
 * Next's handler for pages, on the same port (GUIDE §6; `next start` alone cannot carry Socket.IO).
 */
export async function startDashboardServer(options: DashboardServerOptions): Promise<RunningDashboard> {
  process.env.NEXT_TELEMETRY_DISABLED = "1";
  provideDashboardData(options.data);
  const httpServer = createServer();
  const app = next({
    dev: options.dev,
    dir: WEB_DIR,
    hostname: options.host,
    port: options.port,
    httpServer,
  });
  await app.prepare();
  const handle = app.getRequestHandler();
  const viewerAllowed = viewerCheck(options.viewers ?? null);
  httpServer.on("request", (request, response) => {
    if (request.url === HEALTH_PATH) {
      response.writeHead(200, { "content-type": "text/plain" }).end("ok");
      return;
    }
    if (!viewerAllowed(request)) return challengeViewer(response);
    if (serveHttpApi(request, response, options.data, options.log)) return;
    handle(request, response).catch((error: Error) => {
      options.log(`request failed: ${error.message}`);
      if (!response.headersSent) response.writeHead(500).end();
    });
  });

  const maxLiveViewers = options.maxLiveViewers ?? 256;
  // Browsers' Socket.IO, with Socket.IO's default 1 MB message limit: a browser only sends subscriptions.
  // It puts its listener first, so /socket.io/ never reaches Next. Connections that have not joined
  // /live yet count too, so the engine holds at most twice the viewers (and drops a silent one after 10 s).
  const io = new Server(httpServer, {
    serveClient: false,
    connectTimeout: 10_000,
    allowRequest: (request, callback) => {
      if (!viewerAllowed(request)) return callback("sign in to see this dashboard", false);
      const full = io.engine.clientsCount >= 2 * maxLiveViewers;
      callback(full ? "too many connections" : null, !full);
    },
    // Upgrades for other paths (the ingest's, Next's dev hot reload) are not this engine's to end.
    destroyUpgrade: false,
  });
  const hub = new LiveHub(
    options.liveDeltasPerSecond ? { intervalMs: 1000 / options.liveDeltasPerSecond } : {},
  );
  const publishCommitted = (batch: IngestBatch, release: string, receivedAt = Date.now()) => {
    const committed = committedHits(batch, release, receivedAt);
    hub.publish(committed);
    link?.publish(committed);
  };
  const replicas = options.replicas;
  const link: ReplicaLink | null = replicas
    ? setupReplicas(io, {
        databaseUrl: replicas.databaseUrl,
        applicationName: replicas.applicationName,
        ...(replicas.commitFence ? { commitFence: replicas.commitFence } : {}),
        onRemoteCommit: (committed, fence) => {
          replicas.onRemoteCommit(fence);
          hub.publish(committed);
        },
        log: options.log,
      })
    : null;
  const ingest = setupIngest(httpServer, {
    token: options.ingestToken,
    recordBatch: options.recordBatch,
    onCommitted: (batch, release, receivedAt) => publishCommitted(batch, release, receivedAt),
    log: options.log,
  });
  setupLive(io, { hub, resolveScope: options.resolveScope, maxViewers: maxLiveViewers });
  if (!options.dev) {
    // Nothing else takes upgrades in production (Next's hot reload is dev only): a stray one is answered
    // rather than left holding a socket.
    httpServer.on("upgrade", (request, socket) => {
      const url = request.url ?? "";
      if (url.startsWith(BROWSER_SOCKET_PATH) || url.startsWith(INGEST_PATH)) return;
      refuseUpgrade(socket, 404, "no WebSocket here");
    });
  }

  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(options.port, options.host, () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  const { port } = httpServer.address() as AddressInfo;
  const shownHost = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${shownHost === "0.0.0.0" ? "127.0.0.1" : shownHost}:${port}`,
    port,
    hub,
    publishCommitted,
    async close() {
      hub.close();
      await ingest.close();
      io.disconnectSockets(true);
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await link?.close();
      await app.close();
    },
  };
}
