import { existsSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import type { ApisnoopCoverage, IneligibleEndpoint } from "@apisnoop/coverage";
import {
  type Database,
  type DatabaseReads,
  DEFAULT_DATA_DIR,
  enforceRetention,
  openDatabase,
  primaryReads,
  readReplica,
  recordBatch,
} from "@apisnoop/db";
import { compareReleaseNames, DownloadError, REFERENCE_LAYOUT } from "@apisnoop/openapi";
import type { DashboardEnv } from "../env";
import { type RunningDashboard, startDashboardServer } from "./dashboard-server";
import { createDatabaseDashboardData, type DatabaseDashboardData } from "./database-dashboard-data";

import { liveScopeResolver } from "./live-scope";
import { type LoadedRelease, loadClusterRelease, loadPublishedRelease } from "./release-loading";
import { UpstreamImporter } from "./upstream-import";

/** What to do when a published release cannot be downloaded. */
const OFFLINE_WAY_OUT =
  `offline? set APISNOOP_REFERENCE_DIR to a folder with the published data (${REFERENCE_LAYOUT}), ` +
  "or point KUBECONFIG at a reachable cluster to use its own spec";

export interface WebAppOptions {
  env: DashboardEnv;
  /** Load the spec of this kubeconfig's cluster as the default release (null: published releases only). */
  cluster: { kubeconfig?: string | undefined; context?: string | undefined } | null;
  /** The ingest token (overrides APISNOOP_INGEST_TOKEN, e.g. one made up by `npm start`). */
  ingestToken?: string | null;
  /** An open database to use instead of opening one from the env (tests); closed with the app. */
  database?: Database;
  /**
   * Awaited once the database and the releases are ready, just before the server starts (`npm start`
   * builds the dashboard here): a setting that cannot work, or no way to the published data, is said in
   * seconds rather than after a build of minutes.
   */
  beforeServe?: () => Promise<unknown>;
  log: (line: string) => void;
}

/** The running web app: database, loaded releases and the server. */
export interface RunningWebApp {
  url: string;
  database: Database;
  /** Where views read: DATABASE_READ_URL's replica when set and caught up, else the database. */
  reads: DatabaseReads;
  data: DatabaseDashboardData;
  dashboard: RunningDashboard;
  releases: LoadedRelease[];
  /** Why the cluster's spec could not be loaded, when a cluster was asked for. */
  clusterError: string | null;
  /** Loads another published release while running (tests, the demo). */
  loadRelease(release: string): Promise<LoadedRelease>;
  /** The background import of upstream e2e coverage (APISNOOP_UPSTREAM_IMPORT). */
  upstreamImport: UpstreamImporter;
  close(): Promise<void>;
}

/**
 * Starts the dashboard: opens (and migrates) the database, embedded when there is no DATABASE_URL;
 * loads the cluster's release when asked and reachable, and the published releases of APISNOOP_RELEASES
 * (from APISNOOP_REFERENCE_DIR or the public URLs, cached); then serves pages, API and Socket.IO.
 */
export async function startWebApp(options: WebAppOptions): Promise<RunningWebApp> {
  const { env, log } = options;
  // Which replica a connection belongs to, in pg_stat_activity (one web process among several).
  const applicationName = `apisnoop-web/${process.pid}`;
  if (!options.database) log(databaseStep(env));
  const database =
    options.database ??
    (await openDatabase({
      databaseUrl: env.DATABASE_URL,
      dataDir: env.APISNOOP_DATA_DIR,
      applicationName,
      // Its entry points (server.ts, start.ts) stop the app, and so the database, on SIGINT, SIGTERM
      // and SIGHUP: the database then outlives a Ctrl-C long enough to take the app's last writes.
      ownProcessGroup: true,
      // PostgreSQL's own chatter only on request: it drowns what a newcomer needs to read.
      ...(env.APISNOOP_DEBUG ? { log: (line: string) => log(`postgres: ${line.trimEnd()}`) } : {}),
    }));
  let retention: ReturnType<typeof keepRetention> | null = null;
  let reads: DatabaseReads = primaryReads(database.prisma);
  try {
    if (env.DATABASE_READ_URL) {
      log(`database: views read from DATABASE_READ_URL once it has replayed each commit`);
      reads = readReplica({
        primary: database.prisma,
        readUrl: env.DATABASE_READ_URL,
        applicationName,
        maxWaitMs: env.APISNOOP_READ_REPLICA_WAIT_MS,
        log,
      });
    }
    const upstream = new Map<string, ApisnoopCoverage>();
    const ineligible = new Map<string, IneligibleEndpoint>();
    const loading = {
      referenceDir: env.APISNOOP_REFERENCE_DIR,
      cacheDir: env.APISNOOP_CACHE_DIR ?? path.join(homedir(), ".cache", "apisnoop"),
      log,
    };
    const releases: LoadedRelease[] = [];
    // Upstream batches wait here until the server runs; the releases list keeps none (they are large).
    const pendingUpstream: LoadedRelease[] = [];
    const remember = (loaded: LoadedRelease) => {
      if (loaded.upstreamBatch && env.APISNOOP_UPSTREAM_IMPORT) pendingUpstream.push(loaded);
      releases.push({ ...loaded, upstreamBatch: null });
      if (loaded.upstream) upstream.set(loaded.release, loaded.upstream);
      for (const entry of loaded.ineligible) ineligible.set(entry.endpoint, entry);
      return loaded;
    };
    let clusterError: string | null = null;
    let clusterRelease: string | null = null;
    if (options.cluster) {
      log(
        `release: asking the cluster of ${options.cluster.kubeconfig ?? "the kubeconfig"} for its API spec…`,
      );
      try {
        clusterRelease = remember(
          await loadClusterRelease(database.prisma, options.cluster, loading),
        ).release;
      } catch (error) {
        clusterError = (error as Error).message;
      }
    }
    const unreachable: Error[] = [];
    for (const release of env.APISNOOP_RELEASES.split(",")) {
      if (releases.some((loaded) => loaded.release === release)) continue;
      log(
        `release ${release}: reading its spec and apisnoop's e2e coverage from ` +
          `${loading.referenceDir ?? "the published URLs (downloaded once, cached)"}…`,
      );
      try {
        remember(await loadPublishedRelease(database.prisma, release, loading));
      } catch (error) {
        if (!(error instanceof DownloadError)) throw error;
        unreachable.push(error as Error);
      }
    }
    // Without the network, the cluster's own spec is enough to run on; nothing at all is not.
    const [first] = unreachable;
    if (first && releases.length === 0) throw new Error(`${first.message}: ${OFFLINE_WAY_OUT}`);
    for (const error of unreachable) log(`${error.message}; that release is not loaded (${OFFLINE_WAY_OUT})`);

    const policy = keepRetention(database, env, log);
    retention = policy;
    await policy.first;
    await options.beforeServe?.();
    let importer: UpstreamImporter | null = null;
    const data = createDatabaseDashboardData({
      prisma: database.prisma,
      reads,
      upstream,
      ineligible,
      upstreamImports: () => importer?.states() ?? [],
    });
    const dashboard = await startDashboardServer({
      host: env.HOST,
      port: env.PORT,
      dev: env.NODE_ENV === "development",
      data,
      ingestToken: options.ingestToken ?? env.APISNOOP_INGEST_TOKEN ?? null,
      recordBatch: async (batch) => {
        const result = await recordBatch(database.prisma, batch);
        if (!result.duplicate) {
          // The commit's WAL position first: a view read after the ack waits for the replica to replay it.
          await reads.recordCommit();
          data.invalidate();
        }
        return result;
      },
      resolveScope: liveScopeResolver(data),
      // Other web processes on this database: their commits reach this one's pages too.
      // With the position of their commit, so that this one's views wait for the read replica to replay it.
      replicas: {
        databaseUrl: database.url,
        applicationName,
        commitFence: () => reads.fence(),
        onRemoteCommit: (fence) => {
          reads.committed(fence);
          data.invalidate();
        },
      },
      maxLiveViewers: env.APISNOOP_LIVE_MAX_VIEWERS,
      liveDeltasPerSecond: env.APISNOOP_LIVE_DELTAS_PER_SECOND,
      viewers: env.APISNOOP_DASHBOARD_PASSWORD
        ? { user: env.APISNOOP_DASHBOARD_USER, password: env.APISNOOP_DASHBOARD_PASSWORD }
        : null,
      log,
    });
    // Stored like a proxy's batch: caches invalidated, open pages lit as it lands.
    importer = new UpstreamImporter(async (batch) => {
      const result = await recordBatch(database.prisma, batch);
      if (!result.duplicate) {
        await reads.recordCommit();
        data.invalidate();
        dashboard.publishCommitted(batch, batch.release as string); // upstream batches name theirs
      }
      return result;
    }, log);
    const importPending = (into: UpstreamImporter) => {
      // The release the overview shows first (the cluster's, else the newest), then the others, newest first.
      const clusterFirst = (loaded: LoadedRelease) => Number(loaded.release === clusterRelease);
      pendingUpstream.sort(
        (a, b) => clusterFirst(b) - clusterFirst(a) || compareReleaseNames(b.release, a.release),
      );
      for (const { release, upstreamBatch: batch } of pendingUpstream.splice(0)) {
        if (!batch) continue;
        into.add(release, batch, {
          endpoints: new Set(batch.hits.map((hit) => hit.operationId)).size,
          tests: batch.sources.filter((source) => source.e2eTest !== null).length,
        });
      }
    };
    importPending(importer);
    const started = importer;
    return {
      url: dashboard.url,
      database,
      reads,
      data,
      dashboard,
      releases,
      clusterError,
      async loadRelease(release) {
        const loaded = await loadPublishedRelease(database.prisma, release, loading);
        remember(loaded);
        importPending(started);
        reads.committed(null);
        data.invalidate();
        return { ...loaded, upstreamBatch: null };
      },
      upstreamImport: started,
      async close() {
        policy.stop();
        await started.stop();
        await dashboard.close();
        await reads.close();
        await database.stop();
      },
    };
  } catch (error) {
    retention?.stop();
    await reads.close();
    await database.stop();
    throw error;
  }
}

/** What a newcomer reads while the database opens: which one, and why the first start takes longer. */
function databaseStep(env: DashboardEnv): string {
  if (env.DATABASE_URL) return "database: connecting to DATABASE_URL, applying pending migrations…";
  const dataDir = path.resolve(env.APISNOOP_DATA_DIR ?? DEFAULT_DATA_DIR);
  const shown = path.relative(process.cwd(), dataDir).startsWith("..")
    ? dataDir
    : path.relative(process.cwd(), dataDir);
  return existsSync(path.join(dataDir, "PG_VERSION"))
    ? `database: starting the embedded PostgreSQL in ${shown}…`
    : `database: creating the embedded PostgreSQL in ${shown} (first start only)…`;
}

/** How often the retention policy is enforced: partitions for the next days made, old ones dropped. */
const RETENTION_INTERVAL_MS = 3_600_000;

/**
 * Puts the retention policy of the env in force now and every hour (each replica does; the work is
 * idempotent). A failure is logged and tried again at the next round: ingest makes the partitions it
 * needs itself, so nothing stops meanwhile.
 */
function keepRetention(
  database: Database,
  env: DashboardEnv,
  log: (line: string) => void,
): { first: Promise<void>; stop(): void } {
  const policy = { minuteDays: env.APISNOOP_MINUTE_ROLLUP_DAYS, hourDays: env.APISNOOP_HOUR_ROLLUP_DAYS };
  const run = async () => {
    try {
      const done = await enforceRetention(database.prisma, policy);
      if (done.dropped.length > 0) {
        log(`retention: dropped ${done.dropped.length} partitions of data older than the policy`);
      }
    } catch (error) {
      log(`retention: ${(error as Error).message}`);
    }
  };
  const timer = setInterval(run, RETENTION_INTERVAL_MS);
  timer.unref();
  return { first: run(), stop: () => clearInterval(timer) };
}
