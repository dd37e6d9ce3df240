/**
 * DATABASE_READ_URL: the dashboard on a real primary and a real streaming replica of it (pg_basebackup -R,
 * Debian's PostgreSQL). Views are read on the replica; a view read right after an ingest ack is never older
 * than that ack, also with the replica's replay paused (the primary answers); with the replica stopped,
 * the API and the pages still answer, from the primary, with one line in the log.
 */

import { type StreamingPair, startStreamingPair, systemPostgresBin } from "@apisnoop/db/testing";
import { sourceFromUserAgent } from "@apisnoop/protocol";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CoverageReport } from "./data/dashboard-data";
import { hitBatch, startTestStack, type TestStack } from "./testing/test-stack";

const BIN = systemPostgresBin();
const operator = sourceFromUserAgent("operator/2.0");

// CI installs postgresql-15 (.ci/apt-packages): there the test must run, not skip.
describe.skipIf(BIN === null && process.env.CI !== "true")("views on a read replica", () => {
  let pair: StreamingPair;
  let stack: TestStack;
  let stored = 0;
  const lines: string[] = [];

  /** One ingest batch of `count` hits, resolved with its ack (after commit). */
  const ingest = async (count: number) => {
    const ack = await stack.ingest(hitBatch([operator], [[0, "listCoreV1NamespacedPod", count]]));
    expect(ack).toMatchObject({ ok: true });
    stored += count;
  };
  const viewHits = async () => {
    const response = await fetch(`${stack.url}/api/v1/coverage?release=1.34`);
    expect(response.status, await response.clone().text()).toBe(200);
    return ((await response.json()) as CoverageReport).totals.hits;
  };

  beforeAll(async () => {
    if (!BIN) throw new Error("needs a system PostgreSQL with pg_basebackup (Debian's postgresql-15)");
    pair = await startStreamingPair(BIN);
    stack = await startTestStack(
      "1.34",
      { DATABASE_URL: pair.primaryUrl, DATABASE_READ_URL: pair.replicaUrl },
      { databaseUrl: pair.primaryUrl, log: (line) => lines.push(line) },
    );
  });
  afterAll(async () => {
    await stack?.close();
    await pair?.stop();
  });

  it("reads views on the replica, each one as new as the last ack", async () => {
    for (let i = 1; i <= 8; i++) {
      await ingest(i);
      expect(await viewHits()).toBe(stored);
    }
    expect(stack.app.reads.stats().replica).toBeGreaterThan(0);
    // The replica ran this web process's view queries (its connections are named after the process).
    const ran = await pair.onReplica(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE application_name = 'apisnoop-web/${process.pid}' AND query LIKE '%FROM "%'`,
    );
    expect(ran.rows[0].n).toBeGreaterThan(0);
  });

  it("answers from the primary when the replica has not replayed the ack's commit", async () => {
    const before = stack.app.reads.stats();
    await pair.onReplica("SELECT pg_wal_replay_pause()");
    try {
      for (let i = 0; i < 3; i++) {
        await ingest(5);
        expect(await viewHits()).toBe(stored);
      }
    } finally {
      await pair.onReplica("SELECT pg_wal_replay_resume()");
    }
    expect(stack.app.reads.stats().fallbackLagging).toBeGreaterThanOrEqual(before.fallbackLagging + 3);
    expect(
      lines.some((line) => line.startsWith("read replica: has not replayed the last commit within")),
    ).toBe(true);
  });

  it("keeps the dashboard up with the replica stopped", async () => {
    const before = stack.app.reads.stats();
    await pair.stopReplica();
    await ingest(7);
    expect(await viewHits()).toBe(stored);
    const page = await fetch(`${stack.url}/?release=1.34`);
    expect(page.status).toBe(200);
    expect(stack.app.reads.stats().fallbackDown).toBeGreaterThan(before.fallbackDown);
    expect(
      lines.some((line) => /^read replica: .*\(DATABASE_READ_URL\); reading from DATABASE_URL/.test(line)),
    ).toBe(true);
  });

  it("waits for another web process's commit, told through the replicas' adapter", async () => {
    // Last: pages look up the data layer of the latest app started in this process.
    await pair.startReplica();
    const other = await startTestStack(
      "1.34",
      { DATABASE_URL: pair.primaryUrl, DATABASE_READ_URL: pair.replicaUrl },
      { databaseUrl: pair.primaryUrl },
    );
    try {
      const otherHits = async () => {
        const response = await fetch(`${other.url}/api/v1/coverage?release=1.34`);
        return ((await response.json()) as CoverageReport).totals.hits;
      };
      await until(async () => (await otherHits()) === stored);
      // The replica has replayed everything so far: only the next commit's position can tell it is behind.
      const primary = new pg.Client({ connectionString: pair.primaryUrl });
      await primary.connect();
      const now = (await primary.query("SELECT pg_current_wal_insert_lsn()::text AS lsn")).rows[0].lsn;
      await primary.end();
      await until(
        async () =>
          (await pair.onReplica(`SELECT pg_last_wal_replay_lsn() >= '${now}'::pg_lsn AS done`)).rows[0].done,
      );
      await pair.onReplica("SELECT pg_wal_replay_pause()");
      try {
        await ingest(3);
        // Without the commit's position the other process would read the paused replica for good.
        await until(async () => (await otherHits()) === stored);
        expect(other.app.reads.stats().fallbackLagging).toBeGreaterThan(0);
      } finally {
        await pair.onReplica("SELECT pg_wal_replay_resume()");
      }
    } finally {
      await other.close();
    }
  });
});

/** Resolves once `condition` holds; fails after 30 s. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met within 30 s");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
