import type { EndpointCatalog } from "@apisnoop/openapi";
import { seededRandom, sharedCatalog } from "@apisnoop/openapi/testing";
import type { HitRollup, Source } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getCoverage } from "./coverage";
import type { Database } from "./database";
import type { CoverageFilters } from "./filters";
import { recordBatch } from "./record-batch";
import { loadRelease } from "./releases";
import {
  outcomeCondition,
  SqlParams,
  sourceRestriction,
  windowParts,
  windowRestriction,
} from "./selection-sql";
import { listSources } from "./sources";
import { epochMinute, openTestDatabase, testBatch, testSource } from "./testing";

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
    testSource("e2e.test/v1.34.0 -- [sig-apps] Deployment should work [Conformance]", { name: "run-1" }),
    testSource("e2e.test/v1.34.0 -- [sig-node] Pods should run", { name: "run-1" }),
    testSource("operator/2.0", { namespace: "ops", pod: "op-0", serviceAccount: "op" }),
  ];
  const sourceFilters: CoverageFilters[] = [
    { outcome: "any" },
    { outcome: "any", chart: "nginx" },
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
          details: {},
        });
      }
      return testBatch({ sources, hits });
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

  it("answers getCoverage and listSources exactly like a scan of every minute, for random windows and filters", async () => {
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
      expect(active, label).toEqual(await referenceSources(filters));
    }
    expect(answered).toBeGreaterThan(30); // most selections had hits: the comparison compared something
  });
});
