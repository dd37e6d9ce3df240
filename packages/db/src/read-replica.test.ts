/**
 * Reads from a real streaming replica (pg_basebackup -R of a real primary, Debian's PostgreSQL): served by
 * the replica once it has replayed the last commit, never older than that commit (replay paused, or the
 * standby restarted from older data: the primary answers), answered by the primary while the replica is
 * stopped, and within the wait (or the query bound) while it takes queries and never answers them.
 */
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "./client";
import { getCoverageCounts } from "./coverage";
import { type Database, openDatabase } from "./database";
import {
  type DatabaseReads,
  formatLsn,
  parseLsn,
  type ReadReplicaOptions,
  readReplica,
} from "./read-replica";
import { recordBatch } from "./record-batch";
import { loadRelease } from "./releases";
import { type StreamingPair, startStreamingPair, systemPostgresBin } from "./streaming-pair";
import { epochMinute, testBatch, testSource } from "./testing";

const BIN = systemPostgresBin();
// CI installs postgresql-15 (.ci/apt-packages): there the test must run, not skip. It makes its own two
// servers, so CI's second pass of packages/db against DATABASE_URL's server would only repeat it.
const RUN = (BIN !== null || process.env.CI === "true") && !process.env.DATABASE_URL;
const SOURCE = testSource("operator/2.0", { namespace: "ops" });
const MINUTE = epochMinute("2026-11-28T12:00:00Z");

describe("LSNs", () => {
  it("read and print as PostgreSQL writes them", () => {
    expect(formatLsn(parseLsn("16/B374D848"))).toBe("16/B374D848");
    expect(parseLsn("0/1") < parseLsn("1/0")).toBe(true);
    expect(() => parseLsn("16/B374D848; DROP")).toThrow(/not an LSN/);
  });
});

describe.skipIf(!RUN)("reads from a streaming replica", () => {
  let pair: StreamingPair;
  let db: Database;
  let stored = 0;
  const lines: string[] = [];
  const opened: DatabaseReads[] = [];
  const reads = (maxWaitMs: number, more: Partial<ReadReplicaOptions> = {}) => {
    const opening = readReplica({
      primary: db.prisma,
      readUrl: pair.replicaUrl,
      applicationName: "apisnoop-read-test",
      maxWaitMs,
      retryDownMs: 100,
      log: (line) => lines.push(line),
      ...more,
    });
    opened.push(opening);
    return opening;
  };

  /** Stores one more hit on the primary (a real ingest batch). */
  const ingest = async () => {
    await recordBatch(
      db.prisma,
      testBatch({
        sources: [SOURCE],
        hits: [
          {
            source: 0,
            operationId: "listCoreV1NamespacedPod",
            method: "GET",
            statusClass: "2xx",
            minute: MINUTE,
            count: 1,
            details: {},
          },
        ],
      }),
    );
    stored++;
  };
  /** The coverage view's hits, and whether a standby answered. */
  const view = (from: DatabaseReads) =>
    from.read(async (client: PrismaClient) => {
      const [{ standby }] = await client.$queryRawUnsafe<[{ standby: boolean }]>(
        "SELECT pg_is_in_recovery() AS standby",
      );
      const counts = await getCoverageCounts(client, { outcome: "any", release: "1.34" });
      return { standby, hits: counts.endpoints.reduce((sum, endpoint) => sum + endpoint.hits, 0) };
    });

  beforeAll(async () => {
    if (!BIN) throw new Error("needs a system PostgreSQL with pg_basebackup (Debian's postgresql-15)");
    pair = await startStreamingPair(BIN);
    db = await openDatabase({ databaseUrl: pair.primaryUrl });
    await loadRelease(db.prisma, sharedCatalog("1.34"), { origin: "test", isDefault: true });
  });
  afterAll(async () => {
    for (const each of opened) await each.close();
    await db?.stop();
    await pair?.stop();
  });

  it("serves reads from the replica once it has replayed each commit", async () => {
    const patient = reads(10_000);
    for (let i = 0; i < 5; i++) {
      await ingest();
      await patient.recordCommit();
      expect(await view(patient)).toEqual({ standby: true, hits: stored });
    }
    expect(patient.stats()).toMatchObject({ replica: 5, fallbackLagging: 0, fallbackDown: 0 });
    const named = await pair.onReplica(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'apisnoop-read-test'",
    );
    expect(named.rows[0].n).toBeGreaterThan(0);
  });

  it("never reads older than the last commit: with replay paused the primary answers", async () => {
    const writer = reads(10_000);
    const other = reads(50); // another web process, told of the writer's commits with their position
    await view(other);
    const lagged = other.stats().fallbackLagging;
    await pair.onReplica("SELECT pg_wal_replay_pause()");
    try {
      await ingest();
      await writer.recordCommit();
      other.committed(writer.fence());
      expect(await view(other)).toEqual({ standby: false, hits: stored });
      expect(await view(other)).toEqual({ standby: false, hits: stored });
      expect(other.stats().fallbackLagging).toBe(lagged + 2);
      expect(lines).toContain(
        "read replica: has not replayed the last commit within 50 ms; reading from DATABASE_URL meanwhile",
      );
      // A process that starts now knows of no commit yet: it asks the primary where it stands.
      const fresh = reads(50);
      expect(await view(fresh)).toEqual({ standby: false, hits: stored });
      // And a commit told without its position makes the next read ask the same.
      const told = reads(50);
      await pair.onReplica("SELECT pg_wal_replay_resume()");
      await until(async () => (await view(told)).standby);
      await pair.onReplica("SELECT pg_wal_replay_pause()");
      await ingest();
      told.committed(null);
      expect(await view(told)).toEqual({ standby: false, hits: stored });
    } finally {
      await pair.onReplica("SELECT pg_wal_replay_resume()");
    }
    await until(async () => (await view(other)).standby);
    expect(await view(other)).toEqual({ standby: true, hits: stored });
    expect(lines.some((line) => /^read replica: serving reads again \(\d+ reads fell back/.test(line))).toBe(
      true,
    );
  });

  it("answers from the primary while the replica is stopped, and from the replica once it is back", async () => {
    const patient = reads(10_000);
    await pair.stopReplica();
    try {
      await ingest();
      await patient.recordCommit();
      expect(await view(patient)).toEqual({ standby: false, hits: stored });
      expect(patient.stats().fallbackDown).toBeGreaterThan(0);
      expect(
        lines.some((line) => /^read replica: .*\(DATABASE_READ_URL\); reading from DATABASE_URL/.test(line)),
      ).toBe(true);
    } finally {
      await pair.startReplica();
    }
    await until(async () => (await view(patient)).standby);
    expect(await view(patient)).toEqual({ standby: true, hits: stored });
  });

  it("hands other processes no fence while a commit's position is unknown", async () => {
    // The writer asks the primary as a role that can be refused pg_current_wal_insert_lsn(): a real
    // failure of the question after a commit.
    await db.prisma.$executeRawUnsafe("CREATE ROLE apisnoop_fence LOGIN");
    const writerPrimary = createPrismaClient(pair.primaryUrl.replace("//postgres@", "//apisnoop_fence@"));
    const writer = reads(10_000, { primary: writerPrimary });
    const other = reads(50);
    await until(async () => (await view(other)).standby);
    await writer.recordCommit();
    expect(writer.fence()).not.toBeNull();
    await db.prisma.$executeRawUnsafe("REVOKE EXECUTE ON FUNCTION pg_current_wal_insert_lsn() FROM PUBLIC");
    await pair.onReplica("SELECT pg_wal_replay_pause()");
    try {
      await ingest();
      await writer.recordCommit(); // the commit is stored; its position cannot be asked
      expect(writer.fence()).toBeNull();
      // Told of the commit without a position, the other process asks the primary and waits for it.
      other.committed(writer.fence());
      expect(await view(other)).toEqual({ standby: false, hits: stored });
    } finally {
      await db.prisma.$executeRawUnsafe("GRANT EXECUTE ON FUNCTION pg_current_wal_insert_lsn() TO PUBLIC");
      await pair.onReplica("SELECT pg_wal_replay_resume()");
    }
    await writer.recordCommit();
    expect(writer.fence()).not.toBeNull();
    await writerPrimary.$disconnect();
  });

  it("waits at most maxWaitMs for a replica that takes queries and never answers", async () => {
    const quick = reads(300);
    await until(async () => (await view(quick)).standby);
    pair.freezeReplica();
    try {
      await ingest();
      await quick.recordCommit();
      // Not a timing figure: without a bound on the look, this read waits as long as the replica is frozen.
      expect(await answerWithin(view(quick), 300 + 5_000)).toEqual({ standby: false, hits: stored });
      // Answered at the end of the wait, not when the look itself gave up (the replica is down then).
      expect(quick.stats()).toMatchObject({ fallbackLagging: 1, fallbackDown: 0 });
      expect(await answerWithin(view(quick), 300 + 5_000)).toEqual({ standby: false, hits: stored });
      // The look that never got an answer is given up, and the replica left alone for a while.
      await until(async () =>
        lines.includes(
          "read replica: Query read timeout (DATABASE_READ_URL); reading from DATABASE_URL meanwhile",
        ),
      );
    } finally {
      pair.thawReplica();
    }
    await until(async () => (await view(quick)).standby);
  });

  it("gives up a query the replica stops answering after queryTimeoutMs, and asks the primary", async () => {
    const bounded = reads(10_000, { queryTimeoutMs: 1_000 });
    await ingest();
    await bounded.recordCommit();
    expect(await view(bounded)).toEqual({ standby: true, hits: stored });
    pair.freezeReplica();
    try {
      // The replica has replayed the last commit already: the read goes to it without a look.
      expect(await answerWithin(view(bounded), 1_000 + 5_000)).toEqual({ standby: false, hits: stored });
      expect(bounded.stats()).toMatchObject({ replica: 1, fallbackDown: 1 });
    } finally {
      pair.thawReplica();
    }
    await until(async () => (await view(bounded)).standby);
  });

  it("never reads a standby that restarted older than it was while no connection was open", async () => {
    const name = "apisnoop-read-test-restart";
    const patient = reads(2_000, { applicationName: name });
    const served = async () => {
      await ingest();
      await patient.recordCommit();
      await until(async () => (await view(patient)).standby);
      expect(await view(patient)).toEqual({ standby: true, hits: stored });
    };
    await served();
    await pair.stopReplica();
    const older = pair.copyReplica();
    await pair.startReplica();
    await served();
    // An idle dashboard: the pool has closed its connections (after 10 s), so the restart below breaks
    // none of them and nothing tells the reads that the standby went away.
    await until(async () => {
      const open = await pair.onReplica(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = '${name}'`,
      );
      return open.rows[0].n === 0;
    });
    // The same standby comes back from older data (as one that opens at its minimum recovery point
    // does), not streaming, so it stays behind the commit just read; nothing is committed meanwhile.
    await pair.stopReplica();
    await pair.startReplica({ from: older, streaming: false });
    try {
      expect(await view(patient)).toEqual({ standby: false, hits: stored });
      expect(await view(patient)).toEqual({ standby: false, hits: stored });
      expect(lines).toContain(
        "read replica: came back behind the last commit (restarted?); reading from DATABASE_URL meanwhile",
      );
    } finally {
      await pair.stopReplica();
      await pair.startReplica();
    }
    await until(async () => (await view(patient)).standby);
  });

  it("falls back when DATABASE_READ_URL is no standby at all", async () => {
    const primaryAsReplica = readReplica({
      primary: db.prisma,
      readUrl: pair.primaryUrl,
      log: (line) => lines.push(line),
    });
    opened.push(primaryAsReplica);
    expect(await view(primaryAsReplica)).toEqual({ standby: false, hits: stored });
    expect(primaryAsReplica.stats()).toMatchObject({ replica: 0, fallbackLagging: 0, fallbackDown: 1 });
    expect(lines).toContain(
      "read replica: is not a standby in recovery, so its data cannot be checked against commits " +
        "(DATABASE_READ_URL); reading from DATABASE_URL meanwhile",
    );
  });
});

/** What `promise` gives, or a failure when it has not answered within `ms` (a read that hangs). */
async function answerWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `condition` holds; fails after 30 s. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met within 30 s");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
