import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { UNMATCHED_REASONS } from "@apisnoop/openapi";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import type { HitRollup, UnknownCall } from "@apisnoop/protocol";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient } from "./client";
import { getCoverageCounts } from "./coverage";
import { answeredWindow } from "./data-window";
import type { Database } from "./database";
import type { CoverageFilters } from "./filters";
import { applyMigrations, MIGRATIONS_DIR, readMigrations } from "./migrate";
import { recordBatch } from "./record-batch";
import { loadRelease } from "./releases";
import { enforceRetention, PARTITIONED_TABLES } from "./retention";
import { topSources } from "./sources";
import { createScratchDatabase, openTestDatabase, testBatch, testSource } from "./testing";
import { countUnknownCalls } from "./unknown";

const DAY = 1440;
const sources = [
  testSource("kubectl/v1.34.0 (linux/amd64) kubernetes/abc", { namespace: "default" }),
  testSource("helm/3.14", { chart: "nginx-1.2.3", namespace: "web", pod: "nginx-0" }),
  testSource("operator/2.0", { namespace: "ops", pod: "op-0" }),
];
const operations = ["listCoreV1NamespacedPod", "readCoreV1Namespace", "createAppsV1NamespacedDeployment"];

function hit(source: number, operationId: string, minute: number, count = 1, statusClass = "2xx"): HitRollup {
  return {
    source,
    operationId,
    method: "GET",
    statusClass: statusClass as HitRollup["statusClass"],
    minute,
    count,
    details: {},
  };
}

function unknownCall(source: number, minute: number, count: number, reason = "no such path"): UnknownCall {
  return { source, method: "GET", path: "/apis/x.io/v1/y", reason, statusClass: "4xx", minute, count };
}

/** Partitions of a table, by name. */
async function partitions(db: Database, table: string): Promise<string[]> {
  const rows = await db.prisma.$queryRawUnsafe<Array<{ name: string }>>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = format('%I', $1::text)::regclass ORDER BY 1`,
    table,
  );
  return rows.map((row) => row.name);
}

async function sum(db: Database, sql: string): Promise<number> {
  const [row] = await db.prisma.$queryRawUnsafe<Array<{ n: number | null }>>(sql);
  return row?.n ?? 0;
}

describe("retention", () => {
  let db: Database;

  beforeAll(async () => {
    db = await openTestDatabase();
    await loadRelease(db.prisma, sharedCatalog("1.34"), { origin: "test", isDefault: true });
  });
  afterAll(async () => {
    await db?.stop();
  });

  it("drops whole partitions past the horizons; counts stay, old window edges round out", async () => {
    // Six days of data, then the policy of a web app two days later: minutes kept 3 days, hours 5.
    const start = Math.floor(Date.parse("2026-11-20T00:00:00Z") / 60_000);
    const hits: HitRollup[] = [];
    const calls: UnknownCall[] = [];
    for (let minute = start + 7; minute < start + 6 * DAY; minute += 97) {
      hits.push(
        hit(
          minute % 3,
          operations[minute % 3] as string,
          minute,
          1 + (minute % 4),
          minute % 5 ? "2xx" : "5xx",
        ),
      );
      if (minute % 7 === 0) calls.push(unknownCall(minute % 3, minute, 2));
    }
    calls.push(unknownCall(0, start + 100, 5, UNMATCHED_REASONS.outsideSpec));
    await recordBatch(db.prisma, testBatch({ sources, hits, unknownCalls: calls }));
    expect(await partitions(db, "HitRollup")).toHaveLength(6);
    const now = new Date((start + 8 * DAY + 600) * 60_000);
    const horizons = {
      minute: new Date((start + 5 * DAY) * 60_000),
      hour: new Date((start + 3 * DAY) * 60_000),
    };

    // Windows with edges in each resolution, and what they answer before anything is dropped when read
    // over the window rounded as the horizons say.
    const windows: Array<Pick<CoverageFilters, "from" | "to">> = [
      { from: new Date((start + 1 * DAY + 333) * 60_000), to: new Date((start + 4 * DAY + 77) * 60_000) },
      { from: new Date((start + 3 * DAY + 1000) * 60_000) },
      { from: new Date((start + 5 * DAY + 61) * 60_000), to: new Date((start + 5 * DAY + 900) * 60_000) },
      { to: new Date((start + 2 * DAY + 30) * 60_000) },
    ];
    const answer = async (filters: CoverageFilters) => ({
      counts: (await getCoverageCounts(db.prisma, filters)).endpoints
        .filter((endpoint) => endpoint.hits > 0)
        .map((endpoint) => [endpoint.operationId, endpoint.hits, endpoint.hits2xx]),
      sources: (await topSources(db.prisma, filters, 10)).sources.map((source) => [
        source.id,
        source.hits,
        source.endpoints,
      ]),
      unknown: await countUnknownCalls(db.prisma, filters),
    });
    const expected = [];
    for (const window of windows) {
      const rounded = answeredWindow(window, horizons);
      const filters: CoverageFilters = { outcome: "any" };
      if (rounded.from) filters.from = rounded.from;
      if (rounded.to) filters.to = rounded.to;
      expected.push(await answer(filters));
    }
    // The rounding matters: read exactly, the first window answers otherwise than rounded out.
    const exactly = await answer({ outcome: "any", ...windows[0] });
    expect(exactly).not.toEqual(expected[0]);
    for (const answered of expected) expect(answered.counts.length).toBeGreaterThan(0);
    const allTime = await answer({ outcome: "any" });
    const kept = {
      day: await sum(db, `SELECT sum(hits)::float8 AS n FROM "HitRollupDay"`),
      minute: await sum(
        db,
        `SELECT sum(count)::float8 AS n FROM "HitRollup" WHERE minute >= '2026-11-25T00:00Z'`,
      ),
    };

    const run = await enforceRetention(db.prisma, { minuteDays: 3, hourDays: 5 }, now);
    expect(run.horizons).toEqual(horizons);
    expect(run.dropped.filter((name) => name.startsWith("HitRollup_"))).toEqual([
      "HitRollup_20261120",
      "HitRollup_20261121",
      "HitRollup_20261122",
      "HitRollup_20261123",
      "HitRollup_20261124",
    ]);
    expect(await partitions(db, "HitRollup")).toEqual([
      "HitRollup_20261125",
      "HitRollup_20261126",
      "HitRollup_20261127",
      "HitRollup_20261128",
      "HitRollup_20261129",
      "HitRollup_20261130",
      "HitRollup_20261201",
    ]);
    // Hour partitions are months: November ends after the hour horizon, so it stays.
    expect(await partitions(db, "HitRollupHour")).toEqual(["HitRollupHour_202611", "HitRollupHour_202612"]);
    expect(await sum(db, `SELECT sum(count)::float8 AS n FROM "HitRollup"`)).toBe(kept.minute);
    expect(await sum(db, `SELECT sum(hits)::float8 AS n FROM "HitRollupDay"`)).toBe(kept.day);

    expect(await answer({ outcome: "any" })).toEqual(allTime);
    for (const [i, window] of windows.entries()) {
      expect(await answer({ outcome: "any", ...window }), JSON.stringify(window)).toEqual(expected[i]);
    }
    // Enforcing again changes nothing.
    expect((await enforceRetention(db.prisma, { minuteDays: 3, hourDays: 5 }, now)).dropped).toEqual([]);
  });

  it("keeps rows older than a horizon, or far ahead of the clock, at day granularity and in the totals", async () => {
    await enforceRetention(db.prisma, { minuteDays: 2, hourDays: 5 });
    const now = Math.floor(Date.now() / 60_000);
    const source = testSource(`aging/${now}`);
    const minutes = {
      recent: now - 60,
      threeDays: now - 3 * DAY,
      tenDays: now - 10 * DAY,
      future: now + 5 * DAY,
    };
    await recordBatch(
      db.prisma,
      testBatch({
        sources: [source],
        hits: Object.values(minutes).map((minute) => hit(0, "listCoreV1NamespacedPod", minute, 1)),
        unknownCalls: Object.values(minutes).map((minute) => unknownCall(0, minute, 1)),
      }),
    );
    const [{ id } = { id: 0 }] = await db.prisma.source.findMany({ where: { userAgent: source.userAgent } });
    const count = (table: string, column: string, total = "count") =>
      sum(
        db,
        `SELECT sum("${total}")::float8 AS n FROM "${table}" WHERE "sourceId" = ${id} AND "${column}" IS NOT NULL`,
      );
    expect(await count("HitRollup", "minute")).toBe(1);
    expect(await count("UnknownCall", "minute")).toBe(1);
    expect(await count("HitRollupHour", "hour", "hits")).toBe(2);
    expect(await count("HitRollupDay", "day", "hits")).toBe(4);
    expect(await count("HitTotal", "release", "hits")).toBe(4);
    const units = await db.prisma.$queryRawUnsafe<Array<{ unit: string; hits: number; calls: number }>>(
      `SELECT unit, sum(hits)::float8 AS hits, sum("unknownCalls")::float8 AS calls FROM "SourceRollup"
       WHERE "sourceId" = ${id} GROUP BY unit ORDER BY unit`,
    );
    expect(units).toEqual([
      { unit: "day", hits: 4, calls: 4 },
      { unit: "hour", hits: 2, calls: 2 },
      { unit: "minute", hits: 1, calls: 1 },
    ]);
    const total = await db.prisma.sourceTotal.findFirst({ where: { sourceId: id } });
    expect(total?.unknownCalls).toBe(4n);
  });

  it("can be enforced by several web replicas at once", async () => {
    const replicas = [db.prisma, createPrismaClient(db.url), createPrismaClient(db.url)];
    try {
      const now = new Date(Date.now() + 40 * 86_400_000);
      const runs = await Promise.all(
        replicas.map((prisma) => enforceRetention(prisma, { minuteDays: 1, hourDays: 40 }, now)),
      );
      const horizon = runs[0]?.horizons.minute as Date;
      for (const table of PARTITIONED_TABLES.minute.tables) {
        const names = await partitions(db, table);
        expect(names.length, table).toBeGreaterThan(0);
        const oldest = names[0]?.slice(-8) as string;
        expect(Date.parse(`${oldest.slice(0, 4)}-${oldest.slice(4, 6)}-${oldest.slice(6)}T00:00:00Z`)).toBe(
          horizon.getTime(),
        );
      }
    } finally {
      await Promise.all(replicas.slice(1).map((prisma) => prisma.$disconnect()));
    }
  });
});

describe("the migration to partitioned rollups", () => {
  let db: Database;
  let dir: string;
  const scratches: Array<{ drop: () => Promise<void> }> = [];

  beforeAll(async () => {
    db = await openTestDatabase();
    dir = mkdtempSync(path.join(tmpdir(), "apisnoop-migrations-"));
  });
  afterAll(async () => {
    for (const scratch of scratches) await scratch.drop();
    rmSync(dir, { recursive: true, force: true });
    await db?.stop();
  });

  it("moves existing rollups into partitions and fills the per-endpoint and per-source rollups", async () => {
    const scratch = await createScratchDatabase(db.url);
    scratches.push(scratch);
    const before = readMigrations().filter((migration) => migration.name < "20261206000000");
    for (const migration of before)
      cpSync(path.join(MIGRATIONS_DIR, migration.name), path.join(dir, migration.name), { recursive: true });
    await applyMigrations(scratch.url, dir);
    const client = new pg.Client({ connectionString: scratch.url });
    await client.connect();
    try {
      // Two sources' minutes over three days, with the hour, day and total rollups the old ingest kept.
      await client.query(`
        INSERT INTO "HitRollup" ("release", "operationId", "sourceId", "method", "statusClass", "minute", "count")
        SELECT '1.34', 'op-' || (m % 3), 1 + (m % 2), 'GET', CASE WHEN m % 4 = 0 THEN '4xx' ELSE '2xx' END,
               timestamptz '2026-11-26T00:00Z' + m * interval '37 minutes', 1 + m % 5
        FROM generate_series(0, 200) m;
        INSERT INTO "UnknownCall" ("release", "sourceId", "method", "path", "reason", "statusClass", "minute", "count")
        SELECT '1.34', 1 + (m % 2), 'GET', '/x', CASE WHEN m % 3 = 0 THEN 'apiserver path outside the spec' ELSE 'no such path' END,
               '4xx', timestamptz '2026-11-26T00:00Z' + m * interval '53 minutes', 2
        FROM generate_series(0, 60) m;
        INSERT INTO "FieldCount" ("release", "operationId", "sourceId", "direction", "field", "unknown", "hour", "count")
        VALUES ('1.34', 'op-1', 1, 'request', 'io.k8s.api.core.v1.Pod:spec', false, '2026-11-27T10:00Z', 3);
        INSERT INTO "HitRollupHour" SELECT "release", "operationId", "sourceId", date_trunc('hour', "minute", 'UTC'),
          sum("count"), coalesce(sum("count") FILTER (WHERE "statusClass" = '2xx'), 0), min("minute"), max("minute"),
          min("minute") FILTER (WHERE "statusClass" = '2xx'), max("minute") FILTER (WHERE "statusClass" = '2xx')
        FROM "HitRollup" GROUP BY 1, 2, 3, 4;
        INSERT INTO "HitRollupDay" SELECT "release", "operationId", "sourceId", date_trunc('day', "hour", 'UTC'),
          sum("hits"), sum("hits2xx"), min("firstSeen"), max("lastSeen"), min("first2xx"), max("last2xx")
        FROM "HitRollupHour" GROUP BY 1, 2, 3, 4;
        INSERT INTO "SourceTotal" SELECT "release", "sourceId", sum("count"), coalesce(sum("count") FILTER (WHERE "statusClass" = '2xx'), 0),
          count(DISTINCT "operationId"), count(DISTINCT "operationId") FILTER (WHERE "statusClass" = '2xx'), min("minute"), max("minute")
        FROM "HitRollup" GROUP BY 1, 2;`);
      await applyMigrations(scratch.url);
      const rows = async (sql: string) => (await client.query(sql)).rows;
      expect(await rows(`SELECT count(*)::int AS n, sum(count)::int AS hits FROM "HitRollup"`)).toEqual([
        { n: 201, hits: 601 },
      ]);
      expect(
        (
          await rows(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                      WHERE i.inhparent = '"HitRollup"'::regclass ORDER BY 1`)
        ).map((row) => row.relname),
      ).toEqual([
        "HitRollup_20261126",
        "HitRollup_20261127",
        "HitRollup_20261128",
        "HitRollup_20261129",
        "HitRollup_20261130",
        "HitRollup_20261201",
      ]);
      expect(await rows(`SELECT count(*)::int AS n FROM "UnknownCall"`)).toEqual([{ n: 61 }]);
      expect(await rows(`SELECT count(*)::int AS n FROM "FieldCount"`)).toEqual([{ n: 1 }]);
      for (const [unit, length] of [
        ["minute", "1 minute"],
        ["hour", "1 hour"],
        ["day", "1 day"],
      ]) {
        const bucket = `date_bin(interval '${length}', "minute", timestamptz '2000-01-01T00:00Z')`;
        expect(
          await rows(
            `SELECT "operationId", bucket, hits::int, hits2xx::int FROM "EndpointRollup" WHERE unit = '${unit}' ORDER BY 2, 1`,
          ),
          unit,
        ).toEqual(
          await rows(`SELECT "operationId", ${bucket} AS bucket, sum(count)::int AS hits,
                             coalesce(sum(count) FILTER (WHERE "statusClass" = '2xx'), 0)::int AS hits2xx
                      FROM "HitRollup" GROUP BY 1, 2 ORDER BY 2, 1`),
        );
        expect(
          await rows(
            `SELECT "sourceId", bucket, hits::int, "unknownCalls"::int FROM "SourceRollup" WHERE unit = '${unit}' ORDER BY 2, 1`,
          ),
          unit,
        ).toEqual(
          await rows(`SELECT "sourceId", bucket, sum(hits)::int AS hits, sum(calls)::int AS "unknownCalls"
                      FROM (SELECT "sourceId", ${bucket} AS bucket, count AS hits, 0 AS calls FROM "HitRollup"
                            UNION ALL
                            SELECT "sourceId", ${bucket}, 0, count FROM "UnknownCall" WHERE reason <> 'apiserver path outside the spec') x
                      GROUP BY 1, 2 ORDER BY 2, 1`),
        );
      }
      expect(await rows(`SELECT "sourceId", "unknownCalls"::int FROM "SourceTotal" ORDER BY 1`)).toEqual([
        { sourceId: 1, unknownCalls: 40 },
        { sourceId: 2, unknownCalls: 40 },
      ]);
    } finally {
      await client.end();
    }
  });
});

describe("the migration to endpoint and unknown-call rollups", () => {
  let db: Database;
  let dir: string;
  let scratch: { url: string; drop: () => Promise<void> } | null = null;

  beforeAll(async () => {
    db = await openTestDatabase();
    dir = mkdtempSync(path.join(tmpdir(), "apisnoop-migrations-"));
  });
  afterAll(async () => {
    await scratch?.drop();
    await db?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("fills the coarser rollups' status classes and details, and the unknown calls' hours, days and totals, from the minutes", async () => {
    scratch = await createScratchDatabase(db.url);
    for (const migration of readMigrations().filter((m) => m.name < "20261206120000"))
      cpSync(path.join(MIGRATIONS_DIR, migration.name), path.join(dir, migration.name), { recursive: true });
    await applyMigrations(scratch.url, dir);
    const client = new pg.Client({ connectionString: scratch.url });
    await client.connect();
    try {
      // Minutes over three days with 2xx, 4xx and 5xx hits and details, and the coarser rollups the
      // ingest before this migration kept (counts only).
      await client.query(`
        SELECT apisnoop_ensure_partitions('HitRollup', 'day', '2026-11-26T00:00Z', '2026-12-03T00:00Z');
        SELECT apisnoop_ensure_partitions('HitRollupHour', 'month', '2026-11-26T00:00Z', '2026-12-03T00:00Z');
        SELECT apisnoop_ensure_partitions('UnknownCall', 'day', '2026-11-26T00:00Z', '2026-12-03T00:00Z');
        INSERT INTO "HitRollup" ("release", "operationId", "sourceId", "method", "statusClass", "minute", "count", "details")
        SELECT '1.34', 'op-' || (m % 3), 1 + (m % 2), 'GET', (ARRAY['2xx', '2xx', '4xx', '5xx'])[1 + m % 4],
               timestamptz '2026-11-26T00:00Z' + m * interval '37 minutes', 1 + m % 5,
               CASE WHEN m % 3 = 0 THEN jsonb_build_object('watch', 1 + m % 2) ELSE '{}' END
        FROM generate_series(0, 200) m;
        INSERT INTO "HitRollupHour" ("release", "operationId", "sourceId", "hour", "hits", "hits2xx", "firstSeen", "lastSeen", "first2xx", "last2xx")
        SELECT "release", "operationId", "sourceId", date_trunc('hour', "minute", 'UTC'), sum("count"),
               coalesce(sum("count") FILTER (WHERE "statusClass" = '2xx'), 0), min("minute"), max("minute"),
               min("minute") FILTER (WHERE "statusClass" = '2xx'), max("minute") FILTER (WHERE "statusClass" = '2xx')
        FROM "HitRollup" GROUP BY 1, 2, 3, 4;
        INSERT INTO "HitRollupDay" ("release", "operationId", "sourceId", "day", "hits", "hits2xx", "firstSeen", "lastSeen", "first2xx", "last2xx")
        SELECT "release", "operationId", "sourceId", date_trunc('day', "hour", 'UTC'), sum("hits"), sum("hits2xx"),
               min("firstSeen"), max("lastSeen"), min("first2xx"), max("last2xx")
        FROM "HitRollupHour" GROUP BY 1, 2, 3, 4;
        INSERT INTO "HitTotal" ("release", "operationId", "sourceId", "hits", "hits2xx", "firstSeen", "lastSeen", "first2xx", "last2xx")
        SELECT "release", "operationId", "sourceId", sum("hits"), sum("hits2xx"), min("firstSeen"), max("lastSeen"),
               min("first2xx"), max("last2xx")
        FROM "HitRollupDay" GROUP BY 1, 2, 3;
        INSERT INTO "UnknownCall" ("release", "sourceId", "method", "path", "reason", "statusClass", "minute", "count")
        SELECT '1.34', 1 + (m % 2), 'GET', '/x' || (m % 2), 'no such path', '4xx',
               timestamptz '2026-11-26T00:00Z' + m * interval '53 minutes', 2
        FROM generate_series(0, 60) m;`);
      await applyMigrations(scratch.url);
      const rows = async (sql: string) => (await client.query(sql)).rows;
      for (const [table, bucket] of [
        ["HitRollupHour", `date_trunc('hour', "minute", 'UTC')`],
        ["HitRollupDay", `date_trunc('day', "minute", 'UTC')`],
        ["HitTotal", "NULL::timestamptz"],
      ]) {
        const column =
          table === "HitRollupHour" ? `"hour"` : table === "HitRollupDay" ? `"day"` : "NULL::timestamptz";
        // Per bucket: "4xx" and "5xx" counts, and "watch" counts, summed from the minutes.
        expect(
          await rows(`SELECT "operationId", "sourceId", ${column} AS bucket,
                             ("otherStatusClasses"->>'4xx')::int AS "4xx", ("otherStatusClasses"->>'5xx')::int AS "5xx",
                             ("details"->>'watch')::int AS watch, "otherStatusClasses" ? '2xx' AS "has2xx"
                      FROM "${table}" ORDER BY 1, 2, 3`),
          table,
        ).toEqual(
          await rows(`SELECT "operationId", "sourceId", ${bucket} AS bucket,
                             sum("count") FILTER (WHERE "statusClass" = '4xx')::int AS "4xx",
                             sum("count") FILTER (WHERE "statusClass" = '5xx')::int AS "5xx",
                             sum(("details"->>'watch')::int)::int AS watch, false AS "has2xx"
                      FROM "HitRollup" GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`),
        );
      }
      for (const [unit, bucket] of [
        ["hour", `date_trunc('hour', "minute", 'UTC')`],
        ["day", `date_trunc('day', "minute", 'UTC')`],
      ]) {
        expect(
          await rows(`SELECT "sourceId", "path", "bucket", "count"::int, "firstSeen", "lastSeen"
                      FROM "UnknownCallRollup" WHERE "unit" = '${unit}' ORDER BY 1, 2, 3`),
          unit,
        ).toEqual(
          await rows(`SELECT "sourceId", "path", ${bucket} AS bucket, sum("count")::int AS count,
                             min("minute") AS "firstSeen", max("minute") AS "lastSeen"
                      FROM "UnknownCall" GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`),
        );
      }
      expect(
        await rows(`SELECT "sourceId", "path", "count"::int FROM "UnknownCallTotal" ORDER BY 1, 2`),
      ).toEqual([
        { sourceId: 1, path: "/x0", count: 62 },
        { sourceId: 2, path: "/x1", count: 60 },
      ]);
    } finally {
      await client.end();
    }
  });
});
