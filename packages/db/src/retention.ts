import type { PrismaClient } from "./client";

/**
 * How long the fine-grained rollups are kept. Day rollups and all-time totals are kept for good, so every
 * count stays; what ages out is the resolution of old time windows.
 */
export interface RetentionPolicy {
  /**
   * Days of minute buckets: HitRollup, UnknownCall, and the minute buckets of EndpointRollup, SourceRollup
   * and ChartRollup.
   */
  minuteDays: number;
  /**
   * Days of hour buckets: HitRollupHour, FieldCount, and the hour buckets of EndpointRollup, SourceRollup,
   * UnknownCallRollup and ChartRollup.
   */
  hourDays: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { minuteDays: 30, hourDays: 400 };

/** The bucket lengths that age out. */
export type AgingUnit = "minute" | "hour";

/**
 * The partitioned tables per unit, and the time span of one partition. Partitions are made and attached
 * by the SQL function apisnoop_ensure_partitions (migration 20261206000000) and named
 * `<table>_YYYYMMDD` (days) or `<table>_YYYYMM` (months).
 */
export const PARTITIONED_TABLES: Record<AgingUnit, { step: "day" | "month"; tables: readonly string[] }> = {
  minute: {
    step: "day",
    tables: [
      "HitRollup",
      "UnknownCall",
      "EndpointRollup_minute",
      "SourceRollup_minute",
      "ChartRollup_minute",
    ],
  },
  hour: {
    step: "month",
    tables: [
      "HitRollupHour",
      "FieldCount",
      "EndpointRollup_hour",
      "SourceRollup_hour",
      "UnknownCallRollup_hour",
      "ChartRollup_hour",
    ],
  },
};

/** Partitions are made this far ahead of now, so ingest rarely has to make one. */
const AHEAD_MS = 3 * 86_400_000;

/**
 * Rows further ahead of the web app's clock than this (a proxy whose clock is wrong) are kept at day
 * granularity and in the totals only: partitions are never made for arbitrary future times.
 */
export const FUTURE_LIMIT_MS = 2 * 86_400_000;

/** Where each aging unit's data is complete from; null: nothing aged out (no policy in force). */
export type Horizons = Record<AgingUnit, Date | null>;

const NO_HORIZONS: Horizons = { minute: null, hour: null };

/** Checks a policy: whole days, at least one, and hours kept at least as long as minutes. */
export function checkRetention(policy: RetentionPolicy): string | null {
  for (const [name, days] of Object.entries(policy)) {
    if (!Number.isInteger(days) || days < 1 || days > 36_500) {
      return `${name} must be a whole number of days from 1 to 36500, not ${days}`;
    }
  }
  if (policy.hourDays < policy.minuteDays) {
    return `hour rollups (${policy.hourDays} days) must be kept at least as long as minute rollups (${policy.minuteDays} days)`;
  }
  return null;
}

/** What `enforceRetention` did. */
export interface RetentionRun {
  horizons: { minute: Date; hour: Date };
  /** Partitions made (ahead of time, or missing). */
  created: number;
  /** Partitions dropped, by name. */
  dropped: string[];
}

/**
 * Puts `policy` in force: records it with each unit's horizon (the start of the UTC day `days` before
 * `now`), makes the partitions from the horizon to a few days ahead, and drops every partition that ends at
 * or before its unit's horizon, detached CONCURRENTLY first so that ingest and reads never wait on it. Safe
 * to run from several web replicas at once. From then on, ingest keeps rows older than a horizon only at
 * coarser units, and time windows round edges older than a horizon out to the coarser unit.
 */
export async function enforceRetention(
  prisma: PrismaClient,
  policy: RetentionPolicy,
  now: Date = new Date(),
): Promise<RetentionRun> {
  const problem = checkRetention(policy);
  if (problem) throw new Error(`retention: ${problem}`);
  const horizons = {
    minute: utcDayStart(now.getTime() - policy.minuteDays * 86_400_000),
    hour: utcDayStart(now.getTime() - policy.hourDays * 86_400_000),
  };
  for (const unit of ["minute", "hour"] as const) {
    const days = unit === "minute" ? policy.minuteDays : policy.hourDays;
    await prisma.rollupRetention.upsert({
      where: { unit },
      create: { unit, days, keptFrom: horizons[unit] },
      update: { days, keptFrom: horizons[unit] },
    });
  }
  forgetHorizons(prisma);
  let created = 0;
  const dropped: string[] = [];
  const ahead = new Date(now.getTime() + AHEAD_MS);
  for (const unit of ["minute", "hour"] as const) {
    const { step, tables } = PARTITIONED_TABLES[unit];
    for (const table of tables) {
      created += await ensurePartitions(prisma, table, step, horizons[unit], ahead);
      for (const partition of await partitionsOf(prisma, table)) {
        // No readable bound: another replica dropped the partition after this query's snapshot was
        // taken (pg_get_expr reads the live catalog and gives NULL for a dropped table). Nothing to do.
        if (partition.to === null) continue;
        if (partition.to.getTime() > horizons[unit].getTime()) continue;
        if (await dropPartition(prisma, table, partition)) dropped.push(partition.name);
      }
    }
  }
  return { horizons, created, dropped };
}

/** Makes the missing partitions of `table` that cover [from, to); returns how many it made. */
async function ensurePartitions(
  prisma: PrismaClient,
  table: string,
  step: "day" | "month",
  from: Date,
  to: Date,
): Promise<number> {
  const [row] = await prisma.$queryRawUnsafe<Array<{ made: number }>>(
    "SELECT apisnoop_ensure_partitions($1, $2, $3::timestamptz, $4::timestamptz) AS made",
    table,
    step,
    from,
    to,
  );
  return row?.made ?? 0;
}

interface Partition {
  name: string;
  /** The partition's upper bound; null when another replica has just dropped it. */
  to: Date | null;
  /** An earlier DETACH ... CONCURRENTLY was interrupted: the partition must be finalized. */
  detachPending: boolean;
}

async function partitionsOf(prisma: PrismaClient, table: string): Promise<Partition[]> {
  return prisma.$queryRawUnsafe<Partition[]>(
    `SELECT c.relname AS name, i.inhdetachpending AS "detachPending",
            (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz AS "to"
     FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = format('%I', $1::text)::regclass
     ORDER BY 3`,
    table,
  );
}

/**
 * Detaches a partition without blocking the parent's readers and writers, then drops it. Another replica
 * doing the same at once makes one of the two fail harmlessly: false then.
 */
async function dropPartition(prisma: PrismaClient, table: string, partition: Partition): Promise<boolean> {
  const parent = quoteIdentifier(table);
  const child = quoteIdentifier(partition.name);
  try {
    await prisma.$executeRawUnsafe(
      partition.detachPending
        ? `ALTER TABLE ${parent} DETACH PARTITION ${child} FINALIZE`
        : `ALTER TABLE ${parent} DETACH PARTITION ${child} CONCURRENTLY`,
    );
    await prisma.$executeRawUnsafe(`DROP TABLE IF EXISTS ${child}`);
    return true;
  } catch {
    return false;
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function utcDayStart(ms: number): Date {
  return new Date(Math.floor(ms / 86_400_000) * 86_400_000);
}

const HORIZON_TTL_MS = 60_000;
const horizonCache = new WeakMap<PrismaClient, { at: number; horizons: Promise<Horizons> }>();

/**
 * The horizons in force (cached a minute per client; `enforceRetention` refreshes them at once). A
 * database no web app has served has no policy and no horizons: nothing ages out there.
 */
export function retentionHorizons(prisma: PrismaClient): Promise<Horizons> {
  const cached = horizonCache.get(prisma);
  if (cached && Date.now() - cached.at < HORIZON_TTL_MS) return cached.horizons;
  const horizons = prisma.rollupRetention.findMany().then((rows) => {
    const found = { ...NO_HORIZONS };
    for (const row of rows) if (row.unit === "minute" || row.unit === "hour") found[row.unit] = row.keptFrom;
    return found;
  });
  horizonCache.set(prisma, { at: Date.now(), horizons });
  horizons.catch(() => horizonCache.delete(prisma));
  return horizons;
}

/** Drops the cached horizons and known partitions, e.g. after a write found a partition missing. */
export function forgetHorizons(prisma: PrismaClient): void {
  horizonCache.delete(prisma);
  knownPartitions.delete(prisma);
}

/** Partition starts (epoch ms) known to exist for every table of a unit, per client. */
const knownPartitions = new WeakMap<PrismaClient, Record<AgingUnit, Set<number>>>();

/**
 * Makes sure the partitions exist for rows at these bucket starts (epoch minutes) of `unit`, before a
 * write into the unit's tables. Known partitions cost nothing; a missing one costs one call per table.
 */
export async function ensurePartitionsFor(
  prisma: PrismaClient,
  unit: AgingUnit,
  minutes: Iterable<number>,
): Promise<void> {
  let known = knownPartitions.get(prisma);
  if (!known) {
    known = { minute: new Set(), hour: new Set() };
    knownPartitions.set(prisma, known);
  }
  const { step, tables } = PARTITIONED_TABLES[unit];
  const missing = new Set<number>();
  for (const minute of minutes) {
    const start = partitionStart(minute * 60_000, step);
    if (!known[unit].has(start)) missing.add(start);
  }
  for (const start of [...missing].sort((a, b) => a - b)) {
    const end = step === "day" ? start + 86_400_000 : nextMonth(start);
    for (const table of tables) await ensurePartitions(prisma, table, step, new Date(start), new Date(end));
    known[unit].add(start);
  }
}

function partitionStart(ms: number, step: "day" | "month"): number {
  if (step === "day") return Math.floor(ms / 86_400_000) * 86_400_000;
  const date = new Date(ms);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}

function nextMonth(ms: number): number {
  const date = new Date(ms);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
}
