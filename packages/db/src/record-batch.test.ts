import { UNMATCHED_REASONS } from "@apisnoop/openapi";
import { decodeIngestBatch, type HitRollup } from "@apisnoop/protocol";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Database } from "./database";
import { InvalidBatchError } from "./errors";
import { recordBatch, sourceIdentity, UNKNOWN_RELEASE } from "./record-batch";
import { dumpDatabaseText, epochMinute, openTestDatabase, testBatch, testSource } from "./testing";
import { CONCURRENT_BATCH_WRITES, SMALL_BATCH_ROWS } from "./write-gate";

let db: Database;

beforeAll(async () => {
  db = await openTestDatabase();
});
afterAll(async () => {
  await db?.stop();
});
beforeEach(async () => {
  await db.prisma.$executeRawUnsafe(
    `TRUNCATE "Release", "Endpoint", "Source", "HitRollup", "HitRollupHour", "HitRollupDay", "HitTotal", "EndpointTotal",
       "SourceTotal", "EndpointRollup", "SourceRollup", "UnknownCall", "FieldCount", "IngestBatch" RESTART IDENTITY`,
  );
});

const minute = epochMinute("2026-11-28T12:00:00Z");
const kubectl = testSource("kubectl/v1.34.0 (linux/amd64) kubernetes/abc", { namespace: "default" });
const e2e = testSource("e2e.test/v1.34.0 -- [sig-apps] Deployment should work [Conformance]");

function hit(parts: Partial<HitRollup> = {}): HitRollup {
  return {
    source: 0,
    operationId: "listCoreV1NamespacedPod",
    method: "GET",
    statusClass: "2xx",
    minute,
    count: 1,
    details: {},
    ...parts,
  };
}

const hitRows = () =>
  db.prisma.hitRollup.findMany({ orderBy: [{ operationId: "asc" }, { sourceId: "asc" }, { minute: "asc" }] });

describe("recordBatch", () => {
  it("stores sources, hits, totals, unknown calls and field counts of a batch", async () => {
    const batch = testBatch({
      sources: [kubectl, e2e],
      hits: [
        hit({ count: 3, details: { watch: 1 } }),
        hit({ source: 1, statusClass: "4xx", count: 2 }),
        hit({ source: 1, minute: minute + 5, count: 4 }),
      ],
      unknownCalls: [
        {
          source: 0,
          method: "GET",
          path: "/apis/nope/v1/things",
          reason: "no such path",
          statusClass: "4xx",
          minute,
          count: 2,
        },
      ],
      fields: [
        {
          source: 0,
          operationId: "createCoreV1NamespacedPod",
          direction: "request",
          field: "io.k8s.api.core.v1.Pod:spec.containers[].image",
          unknown: false,
          hour: Math.floor(minute / 60),
          count: 5,
        },
      ],
    });
    const result = await recordBatch(db.prisma, batch);
    expect(result).toMatchObject({
      duplicate: false,
      release: "1.34",
      rows: { hits: 3, unknownCalls: 1, fields: 1 },
    });
    expect(result.sourceIds).toHaveLength(2);

    const sources = await db.prisma.source.findMany({ orderBy: { id: "asc" } });
    expect(sources.map((source) => source.key).sort()).toEqual(
      [sourceIdentity(kubectl), sourceIdentity(e2e)].sort(),
    );
    const e2eRow = sources.find((source) => source.id === result.sourceIds[1]);
    expect(e2eRow).toMatchObject({
      userAgent: e2e.userAgent,
      e2eTest: "[sig-apps] Deployment should work [Conformance]",
      conformance: true,
      firstSeen: new Date(minute * 60_000),
      lastSeen: new Date((minute + 5) * 60_000),
    });

    const hits = await hitRows();
    expect(
      hits.map((row) => [row.sourceId, row.statusClass, row.minute.toISOString(), row.count, row.details]),
    ).toEqual([
      [result.sourceIds[0], "2xx", "2026-11-28T12:00:00.000Z", 3n, { watch: 1 }],
      [result.sourceIds[1], "4xx", "2026-11-28T12:00:00.000Z", 2n, {}],
      [result.sourceIds[1], "2xx", "2026-11-28T12:05:00.000Z", 4n, {}],
    ]);
    const totals = await db.prisma.hitTotal.findMany({ orderBy: { sourceId: "asc" } });
    expect(totals.map((row) => [row.sourceId, row.hits, row.hits2xx, row.first2xx, row.last2xx])).toEqual([
      [result.sourceIds[0], 3n, 3n, new Date(minute * 60_000), new Date(minute * 60_000)],
      [result.sourceIds[1], 6n, 4n, new Date((minute + 5) * 60_000), new Date((minute + 5) * 60_000)],
    ]);
    expect(await db.prisma.endpointTotal.findMany()).toEqual([
      {
        release: "1.34",
        operationId: "listCoreV1NamespacedPod",
        hits: 9n,
        hits2xx: 7n,
        sources: 2,
        sources2xx: 2,
        firstSeen: new Date(minute * 60_000),
        lastSeen: new Date((minute + 5) * 60_000),
        first2xx: new Date(minute * 60_000),
        last2xx: new Date((minute + 5) * 60_000),
      },
    ]);
    expect(await db.prisma.unknownCall.findMany()).toMatchObject([
      { path: "/apis/nope/v1/things", reason: "no such path", count: 2n, minute: new Date(minute * 60_000) },
    ]);
    expect(await db.prisma.fieldCount.findMany()).toMatchObject([
      {
        field: "io.k8s.api.core.v1.Pod:spec.containers[].image",
        count: 5n,
        hour: new Date("2026-11-28T12:00:00Z"),
      },
    ]);
    expect(await db.prisma.ingestBatch.findUnique({ where: { batchId: batch.batchId } })).toMatchObject({
      proxyId: "test-proxy",
      release: "1.34",
      sources: 2,
      hitRows: 3,
      hits: 9n,
      unknownCalls: 1,
      fieldRows: 1,
      sentAt: new Date(batch.sentAt),
    });
  });

  it("stores a replayed batch once: the replay is a duplicate and changes nothing", async () => {
    const batch = testBatch({
      sources: [kubectl],
      hits: [hit({ count: 7, details: { dryRun: 1 } })],
      unknownCalls: [
        {
          source: 0,
          method: "GET",
          path: "/x",
          reason: "no such path",
          statusClass: "4xx",
          minute,
          count: 1,
        },
      ],
    });
    expect((await recordBatch(db.prisma, batch)).duplicate).toBe(false);
    const before = await dumpDatabaseText(db.url);
    const replay = await recordBatch(db.prisma, structuredClone(batch));
    expect(replay).toMatchObject({ duplicate: true, batchId: batch.batchId, sourceIds: [] });
    expect(await dumpDatabaseText(db.url)).toBe(before);
  });

  it("stores concurrent replays of one batch once", async () => {
    const batch = testBatch({ sources: [kubectl], hits: [hit({ count: 5 })] });
    const results = await Promise.all([1, 2, 3, 4].map(() => recordBatch(db.prisma, structuredClone(batch))));
    expect(results.filter((result) => !result.duplicate)).toHaveLength(1);
    expect((await hitRows()).map((row) => row.count)).toEqual([5n]);
  });

  it("adds later batches to stored rows: counts, details, first and last seen", async () => {
    await recordBatch(
      db.prisma,
      testBatch({ sources: [kubectl], hits: [hit({ count: 2, details: { watch: 2 } })] }),
    );
    await recordBatch(
      db.prisma,
      testBatch({
        sources: [kubectl],
        hits: [hit({ count: 3, details: { watch: 1, dryRun: 1 } }), hit({ minute: minute - 10, count: 1 })],
      }),
    );
    const hits = await hitRows();
    expect(hits.map((row) => [row.minute.toISOString(), row.count, row.details])).toEqual([
      ["2026-11-28T11:50:00.000Z", 1n, {}],
      ["2026-11-28T12:00:00.000Z", 5n, { watch: 3, dryRun: 1 }],
    ]);
    const [total] = await db.prisma.hitTotal.findMany();
    expect(total).toMatchObject({
      hits: 6n,
      firstSeen: new Date((minute - 10) * 60_000),
      lastSeen: new Date(minute * 60_000),
    });
    const [source] = await db.prisma.source.findMany();
    expect(source).toMatchObject({
      firstSeen: new Date((minute - 10) * 60_000),
      lastSeen: new Date(minute * 60_000),
    });
  });

  it("keeps per-endpoint and per-source totals equal to the rollups, across concurrent batches", async () => {
    const clients = Array.from({ length: 6 }, (_, i) => testSource(`client-${i}/1.0`));
    const operations = ["listCoreV1NamespacedPod", "readCoreV1NamespacedPod", "createCoreV1Namespace"];
    const statuses = ["2xx", "4xx", "5xx"] as const;
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    // Minutes over two days, so that minute, hour and day buckets all differ.
    const batch = () =>
      testBatch({
        sources: clients,
        hits: Array.from({ length: 40 }, () =>
          hit({
            source: next(6),
            operationId: operations[next(3)] as string,
            statusClass: statuses[next(3)] as (typeof statuses)[number],
            minute: minute + next(5) * 700,
            count: 1 + next(4),
          }),
        ),
        unknownCalls: Array.from({ length: 4 }, (_, i) => ({
          source: next(6),
          method: "GET",
          path: i === 0 ? "/healthz" : "/apis/x.example.com/v1/things",
          reason: i === 0 ? UNMATCHED_REASONS.outsideSpec : "group not served by this spec",
          statusClass: "4xx" as const,
          minute: minute + next(5) * 700,
          count: 1 + next(3),
        })),
      });
    for (let round = 0; round < 3; round++) {
      await Promise.all([batch(), batch(), batch(), batch()].map((one) => recordBatch(db.prisma, one)));
    }
    const fromRollups = await db.prisma.$queryRawUnsafe(
      `SELECT "operationId", sum(count)::bigint AS hits, coalesce(sum(count) FILTER (WHERE "statusClass" = '2xx'), 0)::bigint AS hits2xx,
              count(DISTINCT "sourceId")::int AS sources, count(DISTINCT "sourceId") FILTER (WHERE "statusClass" = '2xx')::int AS sources2xx,
              min(minute) AS "firstSeen", max(minute) AS "lastSeen",
              min(minute) FILTER (WHERE "statusClass" = '2xx') AS "first2xx", max(minute) FILTER (WHERE "statusClass" = '2xx') AS "last2xx"
       FROM "HitRollup" GROUP BY "operationId" ORDER BY "operationId"`,
    );
    const kept = await db.prisma.endpointTotal.findMany({
      orderBy: { operationId: "asc" },
      omit: { release: true },
    });
    expect(kept).toEqual(fromRollups);
    // Sources with unknown calls only have a row too, first and last seen those of their calls.
    const perSource = await db.prisma.$queryRawUnsafe(
      `SELECT coalesce(h."sourceId", u."sourceId") AS "sourceId", coalesce(h.hits, 0)::bigint AS hits,
              coalesce(h.hits2xx, 0)::bigint AS hits2xx, coalesce(h.endpoints, 0) AS endpoints,
              coalesce(h."endpoints2xx", 0) AS "endpoints2xx", coalesce(h."firstSeen", u."firstSeen") AS "firstSeen",
              coalesce(h."lastSeen", u."lastSeen") AS "lastSeen", coalesce(u.calls, 0)::bigint AS "unknownCalls"
       FROM (SELECT "sourceId", sum(count) AS hits, coalesce(sum(count) FILTER (WHERE "statusClass" = '2xx'), 0) AS hits2xx,
                    count(DISTINCT "operationId")::int AS endpoints,
                    count(DISTINCT "operationId") FILTER (WHERE "statusClass" = '2xx')::int AS "endpoints2xx",
                    min(minute) AS "firstSeen", max(minute) AS "lastSeen"
             FROM "HitRollup" GROUP BY "sourceId") h
       FULL JOIN (SELECT "sourceId", sum(count) AS calls, min(minute) AS "firstSeen", max(minute) AS "lastSeen"
                  FROM "UnknownCall" WHERE "reason" <> $1 GROUP BY "sourceId") u ON u."sourceId" = h."sourceId"
       ORDER BY 1`,
      UNMATCHED_REASONS.outsideSpec,
    );
    const keptPerSource = await db.prisma.sourceTotal.findMany({
      orderBy: { sourceId: "asc" },
      omit: { release: true },
    });
    expect(keptPerSource).toEqual(perSource);

    // Per endpoint and per source, each unit's buckets add up to the minute rollups.
    for (const [unit, minutes] of [
      ["minute", 1],
      ["hour", 60],
      ["day", 1440],
    ] as const) {
      const bucket = `to_timestamp(floor(extract(epoch FROM minute) / ${minutes * 60}) * ${minutes * 60})`;
      expect(
        await db.prisma.$queryRawUnsafe(
          `SELECT "operationId", bucket, hits::bigint, hits2xx::bigint FROM "EndpointRollup" WHERE unit = $1
           ORDER BY bucket, "operationId"`,
          unit,
        ),
        `EndpointRollup ${unit}`,
      ).toEqual(
        await db.prisma.$queryRawUnsafe(
          `SELECT "operationId", ${bucket} AS bucket, sum(count)::bigint AS hits,
                  coalesce(sum(count) FILTER (WHERE "statusClass" = '2xx'), 0)::bigint AS hits2xx
           FROM "HitRollup" GROUP BY 1, 2 ORDER BY 2, 1`,
        ),
      );
      expect(
        await db.prisma.$queryRawUnsafe(
          `SELECT "sourceId", bucket, hits, hits2xx, "unknownCalls" FROM "SourceRollup" WHERE unit = $1
           ORDER BY bucket, "sourceId"`,
          unit,
        ),
        `SourceRollup ${unit}`,
      ).toEqual(
        await db.prisma.$queryRawUnsafe(
          `SELECT "sourceId", bucket, sum(hits)::bigint AS hits, sum(hits2xx)::bigint AS hits2xx, sum(calls)::bigint AS "unknownCalls"
           FROM (SELECT "sourceId", ${bucket} AS bucket, count AS hits,
                        CASE WHEN "statusClass" = '2xx' THEN count ELSE 0 END AS hits2xx, 0 AS calls FROM "HitRollup"
                 UNION ALL
                 SELECT "sourceId", ${bucket}, 0, 0, count FROM "UnknownCall" WHERE "reason" <> $1) x
           GROUP BY 1, 2 ORDER BY 2, 1`,
          UNMATCHED_REASONS.outsideSpec,
        ),
      );
    }
  });

  it("writes at most CONCURRENT_BATCH_WRITES batches at once, and stores every one of a burst", async () => {
    // 24 batches on the same rows at once: unqueued, each would hold one of the pool's ten connections.
    const operations = ["listCoreV1NamespacedPod", "readCoreV1NamespacedPod", "createCoreV1Namespace"];
    const burst = Array.from({ length: 24 }, () =>
      testBatch({
        sources: [kubectl],
        hits: Array.from({ length: 1500 }, (_, i) =>
          hit({ operationId: operations[i % 3] as string, minute: minute + Math.floor(i / 3) }),
        ),
      }),
    );
    let writing = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [row] = await db.prisma.$queryRawUnsafe<Array<{ n: number }>>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND backend_type = 'client backend'
             AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`,
        );
        writing = Math.max(writing, row?.n ?? 0);
      }
    })();
    const results = await Promise.all(burst.map((batch) => recordBatch(db.prisma, batch)));
    sampling = false;
    await sampler;
    expect(results.filter((result) => !result.duplicate)).toHaveLength(24);
    expect(writing).toBeGreaterThan(0);
    expect(writing).toBeLessThanOrEqual(CONCURRENT_BATCH_WRITES);
    const [stored] = await db.prisma.$queryRawUnsafe<Array<{ hits: number }>>(
      `SELECT sum("hits")::int AS hits FROM "EndpointTotal"`,
    );
    expect(stored?.hits).toBe(24 * 1500);
  });

  it("writes a small batch without waiting for the bulk batches queued before it", async () => {
    const bulk = Array.from({ length: 12 }, (_, b) =>
      testBatch({
        sources: [kubectl],
        hits: Array.from({ length: 1500 }, (_, i) => hit({ minute: minute + b * 1000 + i })),
      }),
    );
    const small = testBatch({
      sources: [e2e],
      hits: Array.from({ length: SMALL_BATCH_ROWS }, (_, i) =>
        hit({ operationId: "readCoreV1Namespace", minute: minute + i }),
      ),
    });
    const done: string[] = [];
    const stored = [...bulk, small].map((batch, i) =>
      recordBatch(db.prisma, batch).then(() => done.push(i < bulk.length ? "bulk" : "small")),
    );
    await Promise.all(stored);
    // Queued in order behind the bulk batches, it would finish after at least ten of them.
    expect(done.indexOf("small")).toBeLessThan(CONCURRENT_BATCH_WRITES + 1);
  });

  it("folds equal sources and equal keys within one batch", async () => {
    const result = await recordBatch(
      db.prisma,
      testBatch({
        sources: [kubectl, { ...kubectl }, e2e],
        hits: [
          hit({ source: 0, count: 1, details: { watch: 1 } }),
          hit({ source: 1, count: 2, details: { watch: 1 } }),
        ],
      }),
    );
    expect(result.sourceIds[0]).toBe(result.sourceIds[1]);
    expect(await db.prisma.source.count()).toBe(2);
    expect((await hitRows()).map((row) => [row.count, row.details])).toEqual([[3n, { watch: 2 }]]);
  });

  it("stores hits of a batch without a release under the default release, else 'unknown'", async () => {
    const first = await recordBatch(
      db.prisma,
      testBatch({ release: null, sources: [kubectl], hits: [hit()] }),
    );
    expect(first.release).toBe(UNKNOWN_RELEASE);
    await db.prisma.release.create({ data: { name: "1.33", origin: "test", isDefault: true } });
    await db.prisma.release.create({ data: { name: "1.35", origin: "test" } });
    const second = await recordBatch(
      db.prisma,
      testBatch({ release: null, sources: [kubectl], hits: [hit()] }),
    );
    expect(second.release).toBe("1.33");
  });

  it("rejects a bucket PostgreSQL cannot store, storing nothing", async () => {
    const batch = testBatch({ sources: [kubectl], hits: [hit({ minute: 10 ** 12 })] });
    await expect(recordBatch(db.prisma, batch)).rejects.toThrow(InvalidBatchError);
    expect(await db.prisma.ingestBatch.count()).toBe(0);
  });

  it("clips multi-byte paths that would overflow a key and stores them", async () => {
    const path = `/api/v1/${"ü".repeat(2000)}`;
    await recordBatch(
      db.prisma,
      testBatch({
        sources: [kubectl],
        unknownCalls: [
          { source: 0, method: "GET", path, reason: "no such path", statusClass: "4xx", minute, count: 1 },
        ],
      }),
    );
    const [call] = await db.prisma.unknownCall.findMany();
    expect(Buffer.byteLength(call?.path ?? "")).toBeLessThanOrEqual(2048);
    expect(path.startsWith(call?.path ?? "-")).toBe(true);
  });

  it("stores 100,000 hit rows of one batch in bulk", async () => {
    const sources = Array.from({ length: 200 }, (_, i) => testSource(`client-${i}/1.0`, { pod: `pod-${i}` }));
    const hits = Array.from({ length: 100_000 }, (_, i) =>
      hit({
        source: i % 200,
        operationId: `op${Math.floor(i / 200) % 900}`,
        statusClass: i % 7 === 0 ? "4xx" : "2xx",
        minute: minute + Math.floor(i / 180_000),
        count: 1 + (i % 5),
        details: i % 10 === 0 ? { watch: 1 } : {},
      }),
    );
    const expected = hits.reduce((sum, row) => sum + BigInt(row.count), 0n);
    const started = performance.now();
    const result = await recordBatch(db.prisma, testBatch({ sources, hits }));
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `recordBatch: 100,000 hit rows (${expected} hits) in ${seconds.toFixed(2)} s = ${Math.round(100_000 / seconds)} rows/s`,
    );
    expect(result.rows.hits).toBe(100_000);
    const [sum] = await db.prisma.$queryRawUnsafe<Array<{ rows: bigint; hits: bigint }>>(
      `SELECT count(*) AS rows, sum(count)::bigint AS hits FROM "HitRollup"`,
    );
    expect(sum).toEqual({ rows: 100_000n, hits: expected });
    const [totals] = await db.prisma.$queryRawUnsafe<Array<{ hits: bigint }>>(
      `SELECT sum(hits)::bigint AS hits FROM "EndpointTotal"`,
    );
    expect(totals?.hits).toBe(expected);
    // One batch writes ten tables; on a loaded 2-core machine that has taken over a minute.
  }, 300_000);

  it("stores no bearer token that came along with a batch (GUIDE §4)", async () => {
    const token = "sha256~Tok3nThatMustNeverBeStored0123456789abcdef";
    // What a careless client might send: headers beside the rows, the token in a source's fields.
    const decoded = decodeIngestBatch({
      ...testBatch({ sources: [kubectl], hits: [hit({ count: 2 })] }),
      headers: { authorization: `Bearer ${token}` },
      sources: [
        { ...kubectl, authorization: `Bearer ${token}`, headers: { Authorization: `Bearer ${token}` } },
      ],
      hits: [{ ...hit({ count: 2 }), token }],
    });
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    await recordBatch(db.prisma, decoded.batch);
    const dump = await dumpDatabaseText(db.url);
    expect(dump).toContain("listCoreV1NamespacedPod");
    expect(dump).not.toContain(token);
    expect(dump.toLowerCase()).not.toContain("bearer");
  });
});
