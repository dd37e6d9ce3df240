import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "./generated/prisma/client";

export type { PrismaClient } from "./generated/prisma/client";

/** Each client's connection pool, shared with the writes that bypass Prisma (`poolOf`). */
const pools = new WeakMap<PrismaClient, pg.Pool>();

/** How `createPrismaClient` bounds and checks its connections (default: no bound, no check). */
export interface ConnectionOptions {
  /** Bounds a connection attempt, and the wait for a free connection of the pool. */
  connectTimeoutMs?: number;
  /**
   * Bounds each query, answer included: past it the query fails and, as the connections pipeline, its
   * connection is closed (a query behind it would wait for the stuck one).
   */
  queryTimeoutMs?: number;
  /** TCP keepalive probes after 10 s idle, so a connection to a host that vanished is noticed. */
  keepAlive?: boolean;
  /** Runs on each new connection before its first query; a rejection closes it and fails that query. */
  verify?: (client: pg.PoolClient) => Promise<void>;
}

/**
 * Creates a Prisma client on `databaseUrl` through the `pg` driver adapter, its connections named
 * `applicationName` in pg_stat_activity when given, bounded and checked as `options` say. The only place
 * in the project that constructs one: apps get theirs from `openDatabase` (and a read replica's from
 * `readReplica`).
 */
export function createPrismaClient(
  databaseUrl: string,
  applicationName?: string,
  options: ConnectionOptions = {},
): PrismaClient {
  const { verify } = options;
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 10,
    ...(options.connectTimeoutMs ? { connectionTimeoutMillis: options.connectTimeoutMs } : {}),
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
    ...(options.keepAlive ? { keepAlive: true, keepAliveInitialDelayMillis: 10_000 } : {}),
    ...(verify
      ? {
          verify: (client: pg.PoolClient, done: (error?: Error) => void) => {
            verify(client).then(
              () => done(),
              (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
            );
          },
        }
      : {}),
    // Coverage over a time window aggregates tens of thousands of rollups: enough work_mem keeps that a
    // hash aggregate in memory instead of a sort spilling to disk (the default is 4 MB).
    options: "-c work_mem=32MB",
    // A statement goes out without waiting for the answer of the one before: recordBatch sends its
    // transaction's statements together (pipelined-transaction.ts). Prisma awaits each of its queries,
    // so for Prisma nothing changes.
    pipeline: true,
    ...(applicationName ? { application_name: applicationName } : {}),
  });
  const prisma = new PrismaClient({
    adapter: new PrismaPg(pool, { disposeExternalPool: true }),
    // Bulk ingest of a large batch is one transaction; the default 5 s would cut it short.
    transactionOptions: { maxWait: 10_000, timeout: 120_000 },
  });
  pools.set(prisma, pool);
  return prisma;
}

/**
 * The connection pool under `prisma`'s adapter (its connections pipeline), for writes whose statements
 * should not wait on each other; Prisma's `$disconnect` ends it.
 */
export function poolOf(prisma: PrismaClient): pg.Pool {
  const pool = pools.get(prisma);
  if (!pool) throw new Error("this Prisma client was not made by createPrismaClient");
  return pool;
}
