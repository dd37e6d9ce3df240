import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/prisma/client";

export type { PrismaClient } from "./generated/prisma/client";

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
  return new PrismaClient({
    adapter: new PrismaPg({
      connectionString: databaseUrl,
      max: 10,
      ...(options.connectTimeoutMs ? { connectionTimeoutMillis: options.connectTimeoutMs } : {}),
      // Coverage over a time window aggregates tens of thousands of rollups: enough work_mem keeps that a
      // hash aggregate in memory instead of a sort spilling to disk (the default is 4 MB).
      options: "-c work_mem=32MB",
      ...(applicationName ? { application_name: applicationName } : {}),
    }),
    // Bulk ingest of a large batch is one transaction; the default 5 s would cut it short.
    transactionOptions: { maxWait: 10_000, timeout: 120_000 },
  });
}
