import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "./generated/prisma/client";

export type { PrismaClient } from "./generated/prisma/client";

/** Each client's connection pool, shared with the writes that bypass Prisma (`poolOf`). */
const pools = new WeakMap<PrismaClient, pg.Pool>();

/**
 * Creates a Prisma client on `databaseUrl` through the `pg` driver adapter, its connections named
 * `applicationName` in pg_stat_activity when given; `connectTimeoutMs` bounds a connection attempt
 * (default: none). The only place in the project that constructs one: apps get theirs from
 * `openDatabase` (and a read replica's from `readReplica`).
 */
export function createPrismaClient(
  databaseUrl: string,
  applicationName?: string,
  options: { connectTimeoutMs?: number } = {},
): PrismaClient {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: 10,
    ...(options.connectTimeoutMs ? { connectionTimeoutMillis: options.connectTimeoutMs } : {}),
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
