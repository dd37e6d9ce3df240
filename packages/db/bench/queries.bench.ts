/**
 * bench:db-queries — the query functions on rollups that represent 10,000,000 hits of 200 sources over a
 * release's endpoints (issue 6's dashboard benchmark data). Prints p50/p95 per query and its ratio to a
 * `SELECT 1` round trip measured in the same run. A throw-away database (DATABASE_URL's server, else an
 * embedded PostgreSQL), or `--data-dir DIR` to keep the seeded embedded cluster between runs.
 */
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { getChart } from "../src/chart";
import { getCoverage } from "../src/coverage";
import { openDatabase } from "../src/database";
import { getEndpointDetail } from "../src/endpoint-detail";
import { parseCoverageFilters } from "../src/filters";
import { loadRelease } from "../src/releases";
import { listSources } from "../src/sources";
import { openTestDatabase } from "../src/testing";
import { getUnknown } from "../src/unknown";
import { seedRollups } from "./seed";

const ITERATIONS = 40;

async function time(run: () => Promise<unknown>): Promise<{ p50: number; p95: number }> {
  for (let i = 0; i < 3; i++) await run();
  const samples: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] as number;
  return { p50: at(0.5), p95: at(0.95) };
}

const dataDirFlag = process.argv.indexOf("--data-dir");
const dataDir = dataDirFlag === -1 ? undefined : process.argv[dataDirFlag + 1];
const db = dataDir ? await openDatabase({ dataDir }) : await openTestDatabase();
try {
  const catalog = sharedCatalog("1.34");
  if ((await db.prisma.hitRollup.count()) === 0) {
    await loadRelease(db.prisma, catalog, { origin: "bench", isDefault: true });
    const seedStarted = performance.now();
    const seeded = await seedRollups(db.prisma, catalog, {
      sources: 200,
      totalHits: 10_000_000,
      endpointsPerSource: 150,
      minutesPerPair: 10,
      hours: 24,
    });
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    console.log(
      `seeded ${seeded.rows.toLocaleString("en")} hit rows = ${seeded.hits.toLocaleString("en")} hits in ${seedSeconds.toFixed(1)} s` +
        ` (${Math.round(seeded.rows / seedSeconds).toLocaleString("en")} rows/s, ${Math.round(seeded.hits / seedSeconds).toLocaleString("en")} hits/s)`,
    );
  }
  await db.prisma.$executeRawUnsafe("VACUUM ANALYZE");
  const filters = (query: string) => {
    const parsed = parseCoverageFilters(new URLSearchParams(query), {
      now: () => new Date("2026-11-29T00:00:00Z"),
    });
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.filters;
  };
  const baseline = await time(() => db.prisma.$queryRawUnsafe("SELECT 1"));
  console.log(`baseline SELECT 1: p50 ${baseline.p50.toFixed(2)} ms, p95 ${baseline.p95.toFixed(2)} ms`);
  const cases: Array<[string, () => Promise<unknown>]> = [
    ["getCoverage (no filters)", () => getCoverage(db.prisma, filters(""))],
    [
      "getCoverage outcome=2xx level=stable",
      () => getCoverage(db.prisma, filters("outcome=2xx&level=stable")),
    ],
    ["getCoverage chart=chart-3", () => getCoverage(db.prisma, filters("chart=chart-3"))],
    ["getCoverage namespace=ns-4", () => getCoverage(db.prisma, filters("namespace=ns-4"))],
    ["getCoverage from=1h", () => getCoverage(db.prisma, filters("from=1h"))],
    ["getCoverage from=24h (whole day)", () => getCoverage(db.prisma, filters("from=24h"))],
    ["getCoverage from=6h chart=chart-3", () => getCoverage(db.prisma, filters("from=6h&chart=chart-3"))],
    [
      "getEndpointDetail listCoreV1NamespacedPod",
      () => getEndpointDetail(db.prisma, "listCoreV1NamespacedPod", filters("")),
    ],
    ["getChart chart-3", () => getChart(db.prisma, "chart-3", filters(""))],
    ["listSources", () => listSources(db.prisma, filters(""))],
    ["getUnknown", () => getUnknown(db.prisma, filters(""))],
  ];
  for (const [name, run] of cases) {
    const { p50, p95 } = await time(run);
    console.log(
      `${name.padEnd(44)} p50 ${p50.toFixed(1).padStart(6)} ms  p95 ${p95.toFixed(1).padStart(6)} ms  (${(p95 / baseline.p95).toFixed(0)}x baseline p95)`,
    );
  }
} finally {
  await db.stop();
}
