import { readFileSync } from "node:fs";
import path from "node:path";
import type { EndpointCatalog } from "@apisnoop/openapi";
import { seededRandom, sharedCatalog } from "@apisnoop/openapi/testing";
import type { HitRollup, Source } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getChart } from "./chart";
import { getCoverage, getCoverageCounts } from "./coverage";
import type { Database } from "./database";
import { getEndpointDetail } from "./endpoint-detail";
import type { CoverageFilters } from "./filters";
import { MIGRATIONS_DIR } from "./migrate";
import { getPriorities } from "./priorities";
import { recordBatch } from "./record-batch";
import { loadRelease } from "./releases";
import {
  outcomeCondition,
  SqlParams,
  sourceRestriction,
  windowParts,
  windowRestriction,
} from "./selection-sql";
import { listSources, sourcesNamed, topSources } from "./sources";
import { epochMinute, openTestDatabase, testBatch, testSource } from "./testing";
import { countUnknownCalls, getUnknown } from "./unknown";
import { getUsage } from "./usage";

/**
 * Time windows are answered from day and hour rollups plus edge minutes (selection-sql's windowParts);
 * these tests hold that path to a straightforward scan of every minute row, for random windows.
 */

const START = epochMinute("2026-11-26T21:37:00Z");
const SPAN = 3 * 1440 + 300; // minutes of data: three days and a bit, starting off any hour

describe("windowParts", () => {
  const covers = (parts: ReturnType<typeof windowParts>, minute: number) =>
    parts.filter((part) => {
      const unit = part.table === "HitRollupDay" ? 1440 : part.table === "HitRollupHour" ? 60 : 1;
      const bucket = Math.floor(minute / unit) * unit; // the row a minute is counted in
      return (part.from === null || bucket >= part.from) && (part.to === null || bucket < part.to);
    }).length;

  it("splits random windows into disjoint parts that cover exactly the window's minutes", () => {
    const next = seededRandom(7);
    const wrong: string[] = [];
    for (let i = 0; i < 200; i++) {
      const from = next() < 0.15 ? undefined : START + next() * SPAN;
      const to = next() < 0.15 ? undefined : (from ?? START) + next() * SPAN;
      const filters = {
        ...(from === undefined ? {} : { from: new Date(from * 60_000) }),
        ...(to === undefined ? {} : { to: new Date(to * 60_000) }),
      };
      const parts = windowParts(filters);
      expect(parts.length).toBeLessThanOrEqual(5);
      for (let minute = START - 1500; minute < START + SPAN + 1500; minute += 1 + Math.floor(next() * 5)) {
        const inside =
          (from === undefined || minute >= Math.floor(from)) && (to === undefined || minute < to);
        if (covers(parts, minute) !== (inside ? 1 : 0)) wrong.push(`minute ${minute} of [${from}, ${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("reads one day row for a whole UTC day and minutes only for a window inside an hour", () => {
    const day = windowParts({ from: new Date("2026-11-28T00:00:00Z"), to: new Date("2026-11-29T00:00:00Z") });
    expect(day).toEqual([
      {
        table: "HitRollupDay",
        from: epochMinute("2026-11-28T00:00:00Z"),
        to: epochMinute("2026-11-29T00:00:00Z"),
      },
    ]);
    const inside = windowParts({
      from: new Date("2026-11-28T10:05:30Z"),
      to: new Date("2026-11-28T10:20:00.001Z"),
    });
    expect(inside).toEqual([
      {
        table: "HitRollup",
        from: epochMinute("2026-11-28T10:05:00Z"),
        to: epochMinute("2026-11-28T10:21:00Z"),
      },
    ]);
  });
});

describe("windowed queries from day, hour and minute rollups", () => {
  let db: Database;
  let catalog: EndpointCatalog;
  const sources: Source[] = [
    testSource("kubectl/v1.34.0 (linux/amd64) kubernetes/abc", { namespace: "default" }),
    testSource("kubectl/v1.33.1 (linux/amd64) kubernetes/abc", { namespace: "default" }),
    testSource("helm/3.14", {
      chart: "nginx-1.2.3",
      namespace: "web",
      pod: "nginx-0",
      serviceAccount: "nginx",
    }),
    testSource("helm/3.14", {
      chart: "nginx-1.3.0",
      namespace: "web",
      pod: "nginx-1",
      serviceAccount: "nginx",
    }),
    testSource("controller/1.0", { chart: "nginx-ingress-4.0.0", namespace: "ingress", pod: "ingress-0" }),
    // A label without a version: the `nginx` filter selects it whole.
    testSource("helm/3.15", { chart: "nginx", namespace: "web2", pod: "nginx-2" }),
    testSource("e2e.test/v1.34.0 -- [sig-apps] Deployment should work [Conformance]", { name: "run-1" }),
    testSource("e2e.test/v1.34.0 -- [sig-node] Pods should run", { name: "run-1" }),
    testSource("operator/2.0", { namespace: "ops", pod: "op-0", serviceAccount: "op" }),
  ];
  const sourceFilters: CoverageFilters[] = [
    { outcome: "any" },
    { outcome: "any", chart: "nginx" },
    { outcome: "any", chart: "nginx-ingress" },
    { outcome: "any", namespace: "default" },
    { outcome: "any", userAgent: "kubectl/v1.34" },
    { outcome: "any", name: "run-1", e2eTest: "[sig-node] Pods should run" },
    { outcome: "any", pod: "nobody" },
  ];

  beforeAll(async () => {
    db = await openTestDatabase();
    catalog = sharedCatalog("1.34");
    await loadRelease(db.prisma, catalog, { origin: "test", isDefault: true });
    const next = seededRandom(11);
    const operations = catalog.endpoints.filter((endpoint) => !endpoint.watchOperation).slice(0, 40);
    const statuses: HitRollup["statusClass"][] = ["2xx", "2xx", "2xx", "4xx", "5xx"];
    const batch = () => {
      const hits: HitRollup[] = [];
      for (let i = 0; i < 150; i++) {
        const operation = operations[Math.floor(next() * operations.length)] as (typeof operations)[number];
        hits.push({
          source: Math.floor(next() * sources.length),
          operationId: operation.operationId,
          method: operation.method,
          statusClass: statuses[Math.floor(next() * statuses.length)] as HitRollup["statusClass"],
          // Clustered minutes, so pairs share hours and days and edges cut through them.
          minute: START + Math.floor(next() ** 2 * SPAN),
          count: 1 + Math.floor(next() * 5),
          details: next() < 0.3 ? { watch: 1, ...(next() < 0.5 ? { dryRun: 2 } : {}) } : {},
        });
      }
      const unknownCalls = Array.from({ length: 10 }, () => ({
        source: Math.floor(next() * sources.length),
        method: next() < 0.7 ? "GET" : "DELETE",
        path: next() < 0.6 ? "/apis/x.example.com/v1/things" : "/apis/y.example.com/v1/others",
        reason: "group not served by this spec",
        statusClass: next() < 0.8 ? ("4xx" as const) : ("5xx" as const),
        minute: START + Math.floor(next() ** 2 * SPAN),
        count: 1 + Math.floor(next() * 3),
      }));
      return testBatch({ sources, hits, unknownCalls });
    };
    for (let round = 0; round < 6; round++) {
      await Promise.all([0, 1, 2].map(() => recordBatch(db.prisma, batch())));
    }
  });
  afterAll(async () => {
    await db?.stop();
  });

  /** The hour and day rollups as the migration's backfill would build them from the minute rows. */
  const rebuilt = (unit: "hour" | "day", from: string) =>
    `SELECT "release", "operationId", "sourceId", date_trunc('${unit}', "minute", 'UTC') AS bucket, sum("count")::float8 AS hits,
            coalesce(sum("count") FILTER (WHERE "statusClass" = '2xx'), 0)::float8 AS hits2xx, min("minute") AS "firstSeen",
            max("minute") AS "lastSeen", min("minute") FILTER (WHERE "statusClass" = '2xx') AS "first2xx",
            max("minute") FILTER (WHERE "statusClass" = '2xx') AS "last2xx"
     FROM "HitRollup" GROUP BY 1, 2, 3, 4
     EXCEPT
     SELECT "release", "operationId", "sourceId", "${unit}", "hits"::float8, "hits2xx"::float8, "firstSeen", "lastSeen", "first2xx", "last2xx"
     FROM "${from}"`;

  /** Status classes other than 2xx and details of the minute rows, summed per bucket: JSON as stored. */
  const countsOf = (unit: "hour" | "day" | null) => {
    const bucket = unit ? `date_trunc('${unit}', "minute", 'UTC')` : "NULL::timestamptz";
    return `SELECT "release", "operationId", "sourceId", bucket,
              coalesce(jsonb_object_agg(key, n) FILTER (WHERE kind = 's'), '{}') AS others,
              coalesce(jsonb_object_agg(key, n) FILTER (WHERE kind = 'd'), '{}') AS details
       FROM (SELECT "release", "operationId", "sourceId", bucket, kind, key, sum(n) AS n
             FROM (SELECT "release", "operationId", "sourceId", ${bucket} AS bucket, 's' AS kind, "statusClass" AS key, "count"::numeric AS n
                   FROM "HitRollup" WHERE "statusClass" <> '2xx'
                   UNION ALL
                   SELECT "release", "operationId", "sourceId", ${bucket}, 'd', d.key, d.value::numeric
                   FROM "HitRollup", jsonb_each_text("details") AS d(key, value)) c
             GROUP BY 1, 2, 3, 4, 5, 6) k
       GROUP BY 1, 2, 3, 4`;
  };

  it("keeps each bucket's and total's status classes and details equal to the sum of its minutes", async () => {
    for (const [unit, table, column] of [
      ["hour", "HitRollupHour", `"hour"`],
      ["day", "HitRollupDay", `"day"`],
      [null, "HitTotal", "NULL::timestamptz"],
    ] as const) {
      const differences = await db.prisma.$queryRawUnsafe<unknown[]>(
        `(SELECT * FROM (${countsOf(unit)}) m
          EXCEPT SELECT "release", "operationId", "sourceId", ${column}, "otherStatusClasses", "details" FROM "${table}")
         UNION ALL
         (SELECT "release", "operationId", "sourceId", ${column}, "otherStatusClasses", "details" FROM "${table}"
          WHERE "otherStatusClasses" <> '{}' OR "details" <> '{}'
          EXCEPT SELECT * FROM (${countsOf(unit)}) m)`,
      );
      expect(differences, table).toEqual([]);
    }
    const [seen] = await db.prisma.$queryRawUnsafe<Array<{ details: number; others: number }>>(
      `SELECT count(*) FILTER (WHERE "details" <> '{}')::int AS details,
              count(*) FILTER (WHERE "otherStatusClasses" <> '{}')::int AS others FROM "HitTotal"`,
    );
    expect(seen?.details).toBeGreaterThan(10); // the comparison compared something
    expect(seen?.others).toBeGreaterThan(10);
  });

  it("keeps unknown calls' hour, day and all-time rollups equal to their minutes", async () => {
    const key = `"release", "sourceId", "method", "path", "reason", "statusClass"`;
    for (const unit of ["hour", "day", null] as const) {
      const fromMinutes = `SELECT ${key}, ${unit ? `date_trunc('${unit}', "minute", 'UTC')` : "NULL::timestamptz"} AS bucket,
              sum("count")::float8 AS count, min("minute") AS first, max("minute") AS last
         FROM "UnknownCall" GROUP BY 1, 2, 3, 4, 5, 6, 7`;
      const stored = unit
        ? `SELECT ${key}, "bucket", "count"::float8, "firstSeen", "lastSeen" FROM "UnknownCallRollup" WHERE "unit" = '${unit}'`
        : `SELECT ${key}, NULL::timestamptz, "count"::float8, "firstSeen", "lastSeen" FROM "UnknownCallTotal"`;
      expect(
        await db.prisma.$queryRawUnsafe(
          `(${fromMinutes} EXCEPT ${stored}) UNION ALL (${stored} EXCEPT ${fromMinutes})`,
        ),
        unit ?? "total",
      ).toEqual([]);
    }
    const [calls] = await db.prisma.$queryRawUnsafe<Array<{ n: number }>>(
      `SELECT count(*)::int AS n FROM "UnknownCallTotal"`,
    );
    expect(calls?.n).toBeGreaterThan(5);
  });

  it("keeps hour and day rollups equal to their minutes, across concurrent batches", async () => {
    for (const [unit, table] of [
      ["hour", "HitRollupHour"],
      ["day", "HitRollupDay"],
    ] as const) {
      expect(await db.prisma.$queryRawUnsafe(rebuilt(unit, table))).toEqual([]);
      const [counts] = await db.prisma.$queryRawUnsafe<Array<{ rollup: number; buckets: number }>>(
        `SELECT (SELECT sum("count")::float8 FROM "HitRollup") AS rollup, (SELECT sum("hits")::float8 FROM "${table}") AS buckets`,
      );
      expect(counts?.buckets).toBe(counts?.rollup);
    }
  });

  it("keeps the per-chart rollups equal to their sources' minutes, and counts a chart from them", async () => {
    for (const unit of ["minute", "hour", "day", "all"] as const) {
      const bucket = unit === "all" ? "to_timestamp(0)" : `date_trunc('${unit}', h."minute", 'UTC')`;
      const fromMinutes = `SELECT h."release", s."chart", ${bucket} AS bucket, h."operationId", sum(h."count")::float8 AS hits,
              coalesce(sum(h."count") FILTER (WHERE h."statusClass" = '2xx'), 0)::float8 AS hits2xx
         FROM "HitRollup" h JOIN "Source" s ON s."id" = h."sourceId" AND s."chart" IS NOT NULL
         GROUP BY 1, 2, 3, 4`;
      const stored = `SELECT "release", "chart", "bucket", "operationId", "hits"::float8, "hits2xx"::float8
         FROM "ChartRollup" WHERE "unit" = '${unit}'`;
      expect(
        await db.prisma.$queryRawUnsafe(
          `(${fromMinutes} EXCEPT ${stored}) UNION ALL (${stored} EXCEPT ${fromMinutes})`,
        ),
        unit,
      ).toEqual([]);
    }
    const [labels] = await db.prisma.$queryRawUnsafe<Array<{ n: number }>>(
      `SELECT count(DISTINCT "chart")::int AS n FROM "ChartRollup" WHERE "unit" = 'all'`,
    );
    expect(labels?.n).toBe(4); // the comparison compared every label
    // Without a window a chart's counts come from its all-time rows: equal to every minute, summed.
    for (const chart of ["nginx", "nginx-ingress", "nginx-1.3.0", "nobody"]) {
      for (const outcome of ["any", "2xx"] as const) {
        const filters: CoverageFilters = { outcome, chart };
        const counts = await getCoverageCounts(db.prisma, filters);
        const expected = new Map((await referenceCoverage(filters)).map((row) => [row.operationId, row]));
        expect(
          counts.endpoints.map((endpoint) => [endpoint.operationId, endpoint.hits, endpoint.hits2xx]),
          JSON.stringify(filters),
        ).toEqual(
          counts.endpoints.map((endpoint) => {
            const want = expected.get(endpoint.operationId);
            return [endpoint.operationId, want?.hits ?? 0, want?.hits2xx ?? 0];
          }),
        );
        if (chart !== "nobody") expect(counts.totals.all.hits, chart).toBeGreaterThan(0);
      }
    }
  });

  it("rebuilds the per-chart rollups in the migration's backfill exactly as ingest kept them", async () => {
    const snapshot = `SELECT "release", "chart", "unit", "bucket", "operationId", "hits"::float8, "hits2xx"::float8
                      FROM "ChartRollup" ORDER BY 1, 2, 3, 4, 5`;
    const kept = await db.prisma.$queryRawUnsafe<unknown[]>(snapshot);
    expect(kept.length).toBeGreaterThan(100);
    const sql = readFileSync(
      path.join(MIGRATIONS_DIR, "20261206130000_chart_rollup", "migration.sql"),
      "utf8",
    );
    const backfill = sql.slice(sql.indexOf("-- Backfill"));
    await db.prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe(`TRUNCATE "ChartRollup"`);
      for (const statement of backfill.split(/;\s*\n/).filter((part) => /\b(SELECT|INSERT)\b/.test(part)))
        await tx.$executeRawUnsafe(statement);
    });
    expect(await db.prisma.$queryRawUnsafe<unknown[]>(snapshot)).toEqual(kept);
  });

  /** Per endpoint, straight from every minute row of the window: what getCoverage answered before. */
  async function referenceCoverage(filters: CoverageFilters) {
    const params = new SqlParams();
    const window = windowRestriction(filters, params, `h."minute"`, "minute");
    const counted = outcomeCondition(filters.outcome, `h."statusClass"`);
    return db.prisma.$queryRawUnsafe<
      Array<{
        operationId: string;
        hits: number;
        hits2xx: number;
        sources: number;
        firstSeen: Date;
        lastSeen: Date;
      }>
    >(
      `SELECT h."operationId", sum(h."count")::float8 AS hits,
              coalesce(sum(h."count") FILTER (WHERE h."statusClass" = '2xx'), 0)::float8 AS hits2xx,
              count(DISTINCT h."sourceId") FILTER (WHERE ${counted})::int AS sources,
              min(h."minute") FILTER (WHERE ${counted}) AS "firstSeen", max(h."minute") FILTER (WHERE ${counted}) AS "lastSeen"
       FROM "HitRollup" h
       WHERE h."release" = '1.34'${sourceRestriction(filters, params, `h."sourceId"`)}${window}
       GROUP BY h."operationId" ORDER BY h."operationId"`,
      ...params.values,
    );
  }

  async function referenceSources(filters: CoverageFilters) {
    const params = new SqlParams();
    const window = windowRestriction(filters, params, `h."minute"`, "minute");
    const counted = outcomeCondition(filters.outcome, `h."statusClass"`);
    return db.prisma.$queryRawUnsafe<
      Array<{ id: number; hits: number; hits2xx: number; endpoints: number; firstHit: Date; lastHit: Date }>
    >(
      `SELECT h."sourceId" AS id, sum(h."count")::float8 AS hits,
              coalesce(sum(h."count") FILTER (WHERE h."statusClass" = '2xx'), 0)::float8 AS hits2xx,
              count(DISTINCT h."operationId") FILTER (WHERE ${counted})::int AS endpoints,
              min(h."minute") AS "firstHit", max(h."minute") AS "lastHit"
       FROM "HitRollup" h
       WHERE h."release" = '1.34'${sourceRestriction(filters, params, `h."sourceId"`)}${window}
       GROUP BY h."sourceId" ORDER BY h."sourceId"`,
      ...params.values,
    );
  }

  async function referenceUnknownCalls(filters: CoverageFilters): Promise<number> {
    const params = new SqlParams();
    const window = windowRestriction(filters, params, `u."minute"`, "minute");
    const [row] = await db.prisma.$queryRawUnsafe<Array<{ n: number }>>(
      `SELECT coalesce(sum(u."count"), 0)::float8 AS n FROM "UnknownCall" u
       WHERE u."release" = '1.34'${sourceRestriction(filters, params, `u."sourceId"`)}${window}`,
      ...params.values,
    );
    return row?.n ?? 0;
  }

  it("answers coverage, sources and unknown calls exactly like a scan of every minute, for random windows and filters", async () => {
    const next = seededRandom(23);
    const time = (minute: number) => new Date(Math.round(minute * 60_000));
    let answered = 0;
    for (let i = 0; i < 60; i++) {
      const from = next() < 0.15 ? undefined : START - 30 + next() * (SPAN + 60);
      // Some windows are whole UTC days or hours, most cut through them at odd seconds.
      const aligned = next() < 0.2 ? (next() < 0.5 ? 1440 : 60) : 0;
      const start = aligned && from !== undefined ? Math.floor(from / aligned) * aligned : from;
      let to = next() < 0.15 ? undefined : (start ?? START) + 1 + next() * SPAN * 0.7;
      if (aligned && to !== undefined)
        to = Math.max((start ?? 0) + aligned, Math.ceil(to / aligned) * aligned);
      const filters: CoverageFilters = {
        ...(sourceFilters[i % sourceFilters.length] as CoverageFilters),
        outcome: next() < 0.5 ? "any" : "2xx",
        ...(start === undefined ? {} : { from: time(start) }),
        ...(to === undefined ? {} : { to: time(to) }),
        ...(next() < 0.2 ? { level: "stable" as const } : {}),
      };
      if (filters.from === undefined && filters.to === undefined) filters.from = time(START + 600);
      const label = JSON.stringify(filters);

      const coverage = await getCoverage(db.prisma, filters);
      if (coverage.totals.all.hits > 0) answered++;
      const expected = new Map((await referenceCoverage(filters)).map((row) => [row.operationId, row]));
      for (const endpoint of coverage.endpoints) {
        const want = expected.get(endpoint.operationId);
        expect(
          {
            hits: endpoint.hits,
            hits2xx: endpoint.hits2xx,
            sources: endpoint.sources,
            firstSeen: endpoint.firstSeen,
            lastSeen: endpoint.lastSeen,
          },
          `${endpoint.operationId} in ${label}`,
        ).toEqual({
          hits: want?.hits ?? 0,
          hits2xx: want?.hits2xx ?? 0,
          sources: want?.sources ?? 0,
          firstSeen: want?.firstSeen ?? null,
          lastSeen: want?.lastSeen ?? null,
        });
      }

      const listed = await listSources(db.prisma, filters);
      const active = listed
        .filter((source) => source.firstHit !== null)
        .map(({ id, hits, hits2xx, endpoints, firstHit, lastHit }) => ({
          id,
          hits,
          hits2xx,
          endpoints,
          firstHit,
          lastHit,
        }))
        .sort((a, b) => a.id - b.id);
      const reference = await referenceSources(filters);
      expect(active, label).toEqual(reference);

      // What a view reads: counts (per-endpoint rollups without source filters), the top sources (per-source
      // rollups), the unknown calls (per-source rollups).
      const counts = await getCoverageCounts(db.prisma, filters);
      expect(
        counts.endpoints.map((endpoint) => [endpoint.operationId, endpoint.hits, endpoint.hits2xx]),
        label,
      ).toEqual(
        coverage.endpoints.map((endpoint) => [endpoint.operationId, endpoint.hits, endpoint.hits2xx]),
      );
      const counting = reference.filter(
        (source) => (filters.outcome === "2xx" ? source.hits2xx : source.hits) > 0,
      );
      const top = await topSources(db.prisma, filters, 3);
      expect(top.count, label).toBe(counting.length);
      expect(
        top.sources.map(({ id, hits, hits2xx, endpoints, lastHit }) => ({
          id,
          hits,
          hits2xx,
          endpoints,
          lastHit,
        })),
        label,
      ).toEqual(
        counting
          .sort((a, b) => b.hits - a.hits || a.id - b.id)
          .slice(0, 3)
          .map(({ firstHit: _, ...source }) => source),
      );
      // A view lists the e2e run "run-1" as one row: left out of the ranking, summed apart.
      const runOne = new Set(
        (await db.prisma.source.findMany({ where: { name: "run-1" } })).map((source) => source.id),
      );
      const others = counting.filter((source) => !runOne.has(source.id));
      const ranked = await topSources(db.prisma, filters, 3, { except: "run-1" });
      expect(ranked.count, label).toBe(others.length);
      expect(
        ranked.sources.map((source) => source.id),
        label,
      ).toEqual(others.slice(0, 3).map((source) => source.id));
      const named = counting.filter((source) => runOne.has(source.id));
      expect(await sourcesNamed(db.prisma, filters, "run-1"), label).toEqual(
        named.length === 0
          ? null
          : {
              hits: named.reduce((sum, source) => sum + source.hits, 0),
              hits2xx: named.reduce((sum, source) => sum + source.hits2xx, 0),
              sources: named.length,
              tests: named.length, // both run-1 sources are e2e tests
            },
      );
      expect(await countUnknownCalls(db.prisma, filters), label).toBe(await referenceUnknownCalls(filters));
    }
    expect(answered).toBeGreaterThan(30); // most selections had hits: the comparison compared something
  });

  it("ranks all-time sources apart from a named group, like a scan of every minute", async () => {
    const runOne = new Set(
      (await db.prisma.source.findMany({ where: { name: "run-1" } })).map((source) => source.id),
    );
    for (const base of sourceFilters) {
      for (const outcome of ["any", "2xx"] as const) {
        const filters: CoverageFilters = { ...base, outcome };
        const label = JSON.stringify(filters);
        const counting = (await referenceSources(filters))
          .filter((source) => (outcome === "2xx" ? source.hits2xx : source.hits) > 0)
          .sort((a, b) => b.hits - a.hits || a.id - b.id);
        const others = counting.filter((source) => !runOne.has(source.id));
        const ranked = await topSources(db.prisma, filters, 3, { except: "run-1" });
        expect(
          [ranked.count, ranked.sources.map((source) => [source.id, source.hits, source.endpoints])],
          label,
        ).toEqual([
          others.length,
          others.slice(0, 3).map((source) => [source.id, source.hits, source.endpoints]),
        ]);
        const named = counting.filter((source) => runOne.has(source.id));
        const group = await sourcesNamed(db.prisma, filters, "run-1");
        expect(group && [group.hits, group.hits2xx, group.sources, group.tests], label).toEqual(
          named.length === 0
            ? null
            : [
                named.reduce((sum, source) => sum + source.hits, 0),
                named.reduce((sum, source) => sum + source.hits2xx, 0),
                named.length,
                named.length,
              ],
        );
      }
    }
  });

  it("answers an endpoint's page and the unknown-call list like a scan of every minute, for random windows and filters", async () => {
    const next = seededRandom(47);
    const time = (minute: number) => new Date(Math.round(minute * 60_000));
    const operations = await db.prisma.$queryRawUnsafe<Array<{ operationId: string }>>(
      `SELECT DISTINCT "operationId" FROM "HitRollup" ORDER BY 1`,
    );
    let compared = 0;
    for (let i = 0; i < 40; i++) {
      const from = next() < 0.2 ? undefined : START - 30 + next() * (SPAN + 60);
      const to = next() < 0.3 ? undefined : (from ?? START) + 1 + next() * SPAN * 0.7;
      const filters: CoverageFilters = {
        ...(sourceFilters[i % sourceFilters.length] as CoverageFilters),
        outcome: next() < 0.5 ? "any" : "2xx",
        ...(from === undefined ? {} : { from: time(from) }),
        ...(to === undefined ? {} : { to: time(to) }),
      };
      const label = JSON.stringify(filters);
      const operationId = operations[Math.floor(next() * operations.length)]?.operationId as string;
      const params = new SqlParams();
      const where = `h."release" = '1.34' AND h."operationId" = ${params.add(operationId)}${sourceRestriction(filters, params, `h."sourceId"`)}${windowRestriction(filters, params, `h."minute"`, "minute")}`;
      const rows = await db.prisma.$queryRawUnsafe<
        Array<{
          sourceId: number;
          statusClass: string;
          count: number;
          minute: Date;
          details: Record<string, number>;
        }>
      >(
        `SELECT h."sourceId", h."statusClass", h."count"::float8 AS count, h."minute", h."details" FROM "HitRollup" h WHERE ${where}`,
        ...params.values,
      );
      const statusClasses: Record<string, number> = {};
      const details: Record<string, number> = {};
      const bySource = new Map<number, { hits: number; hits2xx: number; firstHit: Date; lastHit: Date }>();
      let firstSeen: Date | null = null;
      let lastSeen: Date | null = null;
      for (const row of rows) {
        statusClasses[row.statusClass] = (statusClasses[row.statusClass] ?? 0) + row.count;
        for (const [name, n] of Object.entries(row.details)) details[name] = (details[name] ?? 0) + n;
        const source = bySource.get(row.sourceId) ?? {
          hits: 0,
          hits2xx: 0,
          firstHit: row.minute,
          lastHit: row.minute,
        };
        source.hits += row.count;
        if (row.statusClass === "2xx") source.hits2xx += row.count;
        if (row.minute < source.firstHit) source.firstHit = row.minute;
        if (row.minute > source.lastHit) source.lastHit = row.minute;
        bySource.set(row.sourceId, source);
        if (filters.outcome === "any" || row.statusClass === "2xx") {
          if (!firstSeen || row.minute < firstSeen) firstSeen = row.minute;
          if (!lastSeen || row.minute > lastSeen) lastSeen = row.minute;
        }
      }
      const detail = await getEndpointDetail(db.prisma, operationId, filters);
      expect(
        {
          statusClasses: detail.statusClasses,
          details: detail.details,
          firstSeen: detail.firstSeen,
          lastSeen: detail.lastSeen,
          sources: Object.fromEntries(
            detail.sources.map((s) => [
              s.id,
              { hits: s.hits, hits2xx: s.hits2xx, firstHit: s.firstHit, lastHit: s.lastHit },
            ]),
          ),
        },
        `${operationId} in ${label}`,
      ).toEqual({ statusClasses, details, firstSeen, lastSeen, sources: Object.fromEntries(bySource) });
      if (rows.length > 0) compared++;

      const callParams = new SqlParams();
      const calls = await db.prisma.$queryRawUnsafe<
        Array<{
          method: string;
          path: string;
          count: number;
          sourceIds: number[];
          firstSeen: Date;
          lastSeen: Date;
        }>
      >(
        `SELECT u."method", u."path", sum(u."count")::float8 AS count, array_agg(DISTINCT u."sourceId" ORDER BY u."sourceId") AS "sourceIds",
                min(u."minute") AS "firstSeen", max(u."minute") AS "lastSeen"
         FROM "UnknownCall" u
         WHERE u."release" = '1.34'${sourceRestriction(filters, callParams, `u."sourceId"`)}${windowRestriction(filters, callParams, `u."minute"`, "minute")}
         GROUP BY 1, 2 ORDER BY 1, 2`,
        ...callParams.values,
      );
      const unknown = await getUnknown(db.prisma, filters);
      expect(
        unknown.calls
          .map(({ method, path, count, sourceIds, firstSeen, lastSeen }) => ({
            method,
            path,
            count,
            sourceIds,
            firstSeen,
            lastSeen,
          }))
          .sort((a, b) => a.method.localeCompare(b.method) || a.path.localeCompare(b.path)),
        label,
      ).toEqual(calls.sort((a, b) => a.method.localeCompare(b.method) || a.path.localeCompare(b.path)));
    }
    expect(compared).toBeGreaterThan(15);
  });

  /**
   * The tables (partitions included) that PostgreSQL's plans read for every raw query `view` runs: a
   * client whose $queryRawUnsafe also EXPLAINs each statement, with the same parameters.
   */
  async function tablesRead(view: (prisma: Database["prisma"]) => Promise<unknown>): Promise<Set<string>> {
    const read = new Set<string>();
    const raw = db.prisma.$queryRawUnsafe.bind(db.prisma);
    const explaining = new Proxy(db.prisma, {
      get(target, property) {
        if (property !== "$queryRawUnsafe") return Reflect.get(target, property);
        return async (sql: string, ...values: unknown[]) => {
          const [plan] = await raw<Array<{ "QUERY PLAN": unknown }>>(
            `EXPLAIN (FORMAT JSON) ${sql}`,
            ...values,
          );
          const walk = (node: unknown): void => {
            if (Array.isArray(node)) node.forEach(walk);
            else if (node && typeof node === "object") {
              const relation = (node as Record<string, unknown>)["Relation Name"];
              if (typeof relation === "string") read.add(relation);
              Object.values(node).forEach(walk);
            }
          };
          walk(plan?.["QUERY PLAN"]);
          return raw(sql, ...values);
        };
      },
    });
    await view(explaining);
    return read;
  }

  it("reads an endpoint's page and the unknown-call list of from=0 from all-time totals, and a window's edges from a day of minutes at most", async () => {
    const [busiest] = await db.prisma.$queryRawUnsafe<Array<{ operationId: string }>>(
      `SELECT "operationId" FROM "HitTotal" GROUP BY 1 ORDER BY sum("hits") DESC LIMIT 1`,
    );
    const operationId = busiest?.operationId as string;
    const bucketed =
      /^(HitRollup|HitRollupHour|HitRollupDay|UnknownCall|UnknownCallRollup_hour|UnknownCallRollup_day|FieldCount)(_\d+)?$/;
    for (const filters of [
      { outcome: "any", from: new Date(0) },
      { outcome: "2xx", from: new Date(0), to: new Date("9999-01-01T00:00:00Z"), chart: "nginx" },
    ] satisfies CoverageFilters[]) {
      const read = await tablesRead(async (prisma) => {
        await getEndpointDetail(prisma, operationId, filters);
        await getUnknown(prisma, filters);
      });
      expect(
        [...read].filter((table) => bucketed.test(table)),
        JSON.stringify(filters),
      ).toEqual([]);
      expect(read).toContain("HitTotal");
      expect(read).toContain("UnknownCallTotal");
      expect(read).toContain("FieldTotal");
    }
    // Two days and a bit, cut mid-hour at both ends: whole days and hours, and only the minute partitions
    // (one a UTC day) that hold its edges.
    const from = START + 2 * 60 + 17;
    const window = {
      outcome: "any",
      from: new Date(from * 60_000),
      to: new Date((from + 2 * 1440 + 70) * 60_000),
    } satisfies CoverageFilters;
    const read = await tablesRead(async (prisma) => {
      await getEndpointDetail(prisma, operationId, window);
      await getUnknown(prisma, window);
    });
    const minutePartitions = [...read].filter((table) => /^(HitRollup|UnknownCall)_\d{8}$/.test(table));
    const days = new Set(minutePartitions.map((table) => table.slice(-8)));
    expect(days.size, [...read].join(" ")).toBeLessThanOrEqual(2);
    expect(days.size, [...read].join(" ")).toBeGreaterThan(0); // the edges' minutes are read, and seen
    expect(read).toContain("HitRollupDay");
    expect(read).toContain("UnknownCallRollup_day");
  });

  it("counts a window's source table endpoints at its edge minutes from HitRollup's index alone", async () => {
    // A closed window cut mid-hour at both ends, over all sources and one chart, both outcomes: the
    // listed sources' endpoints are counted from their rows of the window, edge minutes included. A
    // source's rows of a minute lie among other sources', so reading them from the heap cost a page a row.
    await db.prisma.$executeRawUnsafe(`VACUUM (ANALYZE) "HitRollup"`); // index-only needs visible pages
    const from = START + 2 * 60 + 17;
    const scans: string[] = [];
    for (const filters of [
      { outcome: "any", from: new Date(from * 60_000), to: new Date((from + 1440 + 70) * 60_000) },
      {
        outcome: "2xx",
        chart: "nginx",
        from: new Date(from * 60_000),
        to: new Date((from + 200) * 60_000),
      },
    ] satisfies CoverageFilters[]) {
      await db.prisma.$transaction(async (tx) => {
        // Tables this small are scanned whole; with scans off, the planner shows which index it can use.
        await tx.$executeRawUnsafe("SET LOCAL enable_seqscan = off");
        await tx.$executeRawUnsafe("SET LOCAL enable_bitmapscan = off");
        const raw = tx.$queryRawUnsafe.bind(tx);
        const explaining = new Proxy(tx, {
          get(target, property) {
            if (property !== "$queryRawUnsafe") return Reflect.get(target, property);
            return async (sql: string, ...values: unknown[]) => {
              const [plan] = await raw<Array<{ "QUERY PLAN": unknown }>>(
                `EXPLAIN (FORMAT JSON) ${sql}`,
                ...values,
              );
              const walk = (node: unknown): void => {
                if (Array.isArray(node)) node.forEach(walk);
                else if (node && typeof node === "object") {
                  const fields = node as Record<string, unknown>;
                  const relation = fields["Relation Name"];
                  if (typeof relation === "string" && /^HitRollup_\d{8}$/.test(relation)) {
                    scans.push(`${fields["Node Type"]} on ${relation}`);
                  }
                  Object.values(node).forEach(walk);
                }
              };
              walk(plan?.["QUERY PLAN"]);
              return raw(sql, ...values);
            };
          },
        });
        await topSources(explaining as unknown as Database["prisma"], filters, 50, {});
      });
    }
    expect(scans.length).toBeGreaterThan(0);
    expect(scans.filter((scan) => !scan.startsWith("Index Only Scan "))).toEqual([]);
  });

  /** Per endpoint x source of the window, every minute row scanned: what chart and usage views read before. */
  async function referenceRows(filters: CoverageFilters) {
    const params = new SqlParams();
    return db.prisma.$queryRawUnsafe<
      Array<{ operationId: string; sourceId: number; hits: number; hits2xx: number }>
    >(
      `SELECT h."operationId", h."sourceId", sum(h."count")::float8 AS hits,
              coalesce(sum(h."count") FILTER (WHERE h."statusClass" = '2xx'), 0)::float8 AS hits2xx
       FROM "HitRollup" h
       WHERE h."release" = '1.34'${sourceRestriction(filters, params, `h."sourceId"`)}${windowRestriction(filters, params, `h."minute"`, "minute")}
       GROUP BY 1, 2`,
      ...params.values,
    );
  }

  it("answers the chart's pods and the usage report from the same rollups, equal to a minute scan", async () => {
    const next = seededRandom(31);
    const time = (minute: number) => new Date(Math.round(minute * 60_000));
    const sourceRows = await db.prisma.source.findMany();
    const podOf = new Map(sourceRows.map((row) => [row.id, `${row.namespace}/${row.pod}`]));
    let compared = 0;
    for (let i = 0; i < 30; i++) {
      const from = START + next() * SPAN * 0.8;
      const filters: CoverageFilters = {
        outcome: next() < 0.5 ? "any" : "2xx",
        release: "1.34",
        from: time(from),
        ...(next() < 0.5 ? { to: time(from + 1 + next() * SPAN * 0.5) } : {}),
      };
      const label = JSON.stringify(filters);
      const rows = await referenceRows({ ...filters, chart: "nginx" });
      const pods = new Map<string, { hits: number; endpoints: Set<string> }>();
      for (const row of rows) {
        const pod = pods.get(podOf.get(row.sourceId) ?? "") ?? { hits: 0, endpoints: new Set<string>() };
        pod.hits += row.hits;
        if (filters.outcome === "any" || row.hits2xx > 0) pod.endpoints.add(row.operationId);
        pods.set(podOf.get(row.sourceId) ?? "", pod);
      }
      const chart = await getChart(db.prisma, "nginx", filters);
      expect(
        Object.fromEntries(
          chart.pods.map((pod) => [`${pod.namespace}/${pod.pod}`, [pod.hits, pod.endpoints]]),
        ),
        label,
      ).toEqual(
        Object.fromEntries([...pods].map(([pod, { hits, endpoints }]) => [pod, [hits, endpoints.size]])),
      );
      compared += chart.pods.length;

      const usage = await getUsage(db.prisma, filters);
      const expected = new Map<string, number>();
      for (const row of await referenceRows(filters)) {
        const hits = filters.outcome === "2xx" ? row.hits2xx : row.hits;
        if (hits > 0) expected.set(row.operationId, (expected.get(row.operationId) ?? 0) + hits);
      }
      expect(
        Object.fromEntries(usage.operations.map((operation) => [operation.operationId, operation.hits])),
        label,
      ).toEqual(Object.fromEntries(expected));
    }
    expect(compared).toBeGreaterThan(20);
  });

  it("answers a window that holds all the data (from=0) from the all-time totals, not the minute rows: coverage, sources, chart, usage, priorities", async () => {
    // A day row and a minute row the totals do not hold: a view that reads time buckets for from=0 counts them.
    const [source] = await db.prisma.source.findMany({ take: 1, orderBy: { id: "asc" } });
    const day = Math.floor(START / 1440) * 1440 + 1440;
    await db.prisma.$executeRawUnsafe(
      `INSERT INTO "HitRollup" ("release", "operationId", "sourceId", "method", "statusClass", "minute", "count", "details")
       VALUES ('1.34', 'readCoreV1Namespace', $1, 'GET', '2xx', to_timestamp($2 * 60), 1000000, '{}')`,
      source?.id,
      START + 60,
    );
    await db.prisma.$executeRawUnsafe(
      `INSERT INTO "HitRollupDay" ("release", "operationId", "sourceId", "day", "hits", "hits2xx", "firstSeen", "lastSeen", "first2xx", "last2xx")
       VALUES ('1.34', 'readCoreV1Namespace', $1, to_timestamp($2 * 60), 1000000, 1000000, to_timestamp($2 * 60), to_timestamp($2 * 60), to_timestamp($2 * 60), to_timestamp($2 * 60))
       ON CONFLICT ("release", "sourceId", "day", "operationId") DO UPDATE SET "hits" = "HitRollupDay"."hits" + 1000000, "hits2xx" = "HitRollupDay"."hits2xx" + 1000000`,
      source?.id,
      day,
    );
    try {
      for (const outcome of ["any", "2xx"] as const) {
        const allTime: CoverageFilters = { outcome, release: "1.34" };
        const fromZero: CoverageFilters = {
          ...allTime,
          from: new Date(0),
          to: new Date("9999-01-01T00:00:00Z"),
        };
        const strip = <T>(value: T) => JSON.parse(JSON.stringify(value)) as T;
        expect(strip(await getCoverage(db.prisma, fromZero))).toEqual(
          strip(await getCoverage(db.prisma, allTime)),
        );
        expect(await listSources(db.prisma, fromZero)).toEqual(await listSources(db.prisma, allTime));
        expect(strip(await getChart(db.prisma, "nginx", fromZero))).toEqual(
          strip(await getChart(db.prisma, "nginx", allTime)),
        );
        expect(strip(await getPriorities(db.prisma, fromZero))).toEqual(
          strip(await getPriorities(db.prisma, allTime)),
        );
        const usage = await getUsage(db.prisma, fromZero);
        expect(usage).toEqual(await getUsage(db.prisma, allTime));
        expect(
          usage.operations.find((operation) => operation.operationId === "readCoreV1Namespace")?.hits ?? 0,
        ).toBeLessThan(1_000_000);
      }
    } finally {
      await db.prisma.$executeRawUnsafe(`DELETE FROM "HitRollup" WHERE "count" = 1000000`);
      await db.prisma.$executeRawUnsafe(
        `UPDATE "HitRollupDay" SET "hits" = "hits" - 1000000, "hits2xx" = "hits2xx" - 1000000 WHERE "hits" >= 1000000`,
      );
      await db.prisma.$executeRawUnsafe(`DELETE FROM "HitRollupDay" WHERE "hits" = 0`);
    }
  });
});
