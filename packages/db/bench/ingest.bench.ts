/**
 * bench:ingest-db — recordBatch at a proxy's steady state: one batch per simulated second, 200 sources x
 * 20 endpoints active (4,000 edge-aggregated rows of ~12 hits each, so ~50,000 hits per batch), the
 * minute advancing every 60 batches so most rows add to existing ones. Prints rows/s and hits/s, and the
 * ratio to a baseline measured in the same run: the same rows inserted into an index-less temporary
 * table (the floor cost of moving them into PostgreSQL). A throw-away database, as in bench:db-queries.
 */

import { seededRandom } from "@apisnoop/openapi/testing";
import type { HitRollup } from "@apisnoop/protocol";
import { numberArray, textArray } from "../src/pg-arrays";
import { recordBatch } from "../src/record-batch";
import { epochMinute, openTestDatabase, testBatch } from "../src/testing";
import { benchSources } from "./seed";

const BATCHES = Number(process.argv[2] ?? 120);
const SOURCES = 200;
const ACTIVE_ENDPOINTS = 20;

const db = await openTestDatabase();
try {
  const next = seededRandom(7);
  const sources = benchSources(SOURCES);
  const start = epochMinute("2026-11-28T12:00:00Z");
  const batches = Array.from({ length: BATCHES }, (_, second) => {
    const hits: HitRollup[] = [];
    for (let source = 0; source < SOURCES; source++) {
      for (let endpoint = 0; endpoint < ACTIVE_ENDPOINTS; endpoint++) {
        const roll = next();
        const count = 1 + Math.floor(next() * 24);
        hits.push({
          source,
          operationId: `op${(source * 7 + endpoint * 13) % 900}`,
          method: "GET",
          statusClass: roll < 0.9 ? "2xx" : "4xx",
          minute: start + Math.floor(second / 60),
          count,
          details: roll < 0.05 ? { watch: count } : {},
        });
      }
    }
    return testBatch({ sources, hits });
  });
  const rows = batches.reduce((sum, batch) => sum + batch.hits.length, 0);
  const hits = batches.reduce((sum, batch) => sum + batch.hits.reduce((n, hit) => n + hit.count, 0), 0);

  await db.prisma.$executeRawUnsafe(
    `CREATE TEMP TABLE floor (op text, source int, minute bigint, count bigint)`,
  );
  const floorStarted = performance.now();
  for (const batch of batches) {
    await db.prisma.$executeRawUnsafe(
      `INSERT INTO floor SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[])`,
      textArray(batch.hits.map((hit) => hit.operationId)),
      numberArray(batch.hits.map((hit) => hit.source)),
      numberArray(batch.hits.map((hit) => hit.minute)),
      numberArray(batch.hits.map((hit) => hit.count)),
    );
  }
  const floorSeconds = (performance.now() - floorStarted) / 1000;

  const started = performance.now();
  for (const batch of batches) await recordBatch(db.prisma, batch);
  const seconds = (performance.now() - started) / 1000;

  const fmt = (n: number) => Math.round(n).toLocaleString("en");
  console.log(`${BATCHES} batches, ${fmt(rows)} rows, ${fmt(hits)} hits`);
  console.log(`baseline (index-less temp table): ${fmt(rows / floorSeconds)} rows/s`);
  console.log(
    `recordBatch: ${seconds.toFixed(1)} s = ${fmt(rows / seconds)} rows/s = ${fmt(hits / seconds)} hits/s` +
      ` (${(floorSeconds / seconds).toFixed(2)}x baseline; target 50,000 hits/s: ${hits / seconds >= 50_000 ? "met" : "NOT met"})`,
  );
} finally {
  await db.stop();
}
