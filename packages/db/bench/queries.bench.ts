/**
 * bench:db-queries — the query functions on rollups that represent 10,000,000 hits of 200 sources over a
 * release's endpoints (the data of bench:dashboard). Prints p50/p95 per query and its ratio to a
 * `SELECT 1` round trip measured in the same run. A throw-away database (DATABASE_URL's server, else an
 * embedded PostgreSQL), or `--data-dir DIR` to keep the seeded embedded cluster between runs; `--only REGEX`
 * runs the cases whose name matches.
 */
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { getChart } from "../src/chart";
import { getCoverage, getCoverageCounts } from "../src/coverage";
import { type Database, openDatabase } from "../src/database";
import { getEndpointDetail } from "../src/endpoint-detail";
import { type CoverageFilters, parseCoverageFilters } from "../src/filters";
import { getPriorities } from "../src/priorities";
import { loadRelease } from "../src/releases";
import { outcomeCondition, SqlParams, sourceRestriction, windowRestriction } from "../src/selection-sql";
import { listSources } from "../src/sources";
import { openTestDatabase } from "../src/testing";
import { getUnknown } from "../src/unknown";
import { seedRollups } from "./seed";

const ITERATIONS = 40;
/** Body fields each source uses per endpoint it calls, in each hour it calls it (see seedRollups). */
const FIELDS_PER_PAIR = 10;

/**
 * The windowed coverage query before hour and day rollups (every minute row of the window aggregated,
 * spec columns read with it): the same-run baseline of the windowed cases.
 */
function minuteScanCoverage(prisma: Database["prisma"], filters: CoverageFilters): Promise<unknown> {
  const params = new SqlParams();
  const release = params.add("1.34");
  const counted = outcomeCondition(filters.outcome, `h."statusClass"`);
  const level = filters.level ? ` AND e."level" = ${params.add(filters.level)}` : "";
  return prisma.$queryRawUnsafe(
    `WITH hits AS (
       SELECT p."operationId", sum(p.hits)::float8 AS hits, sum(p.hits2xx)::float8 AS hits2xx,
              count(p.first)::int AS sources, min(p.first) AS "firstSeen", max(p.last) AS "lastSeen"
       FROM (
         SELECT h."operationId", h."sourceId", sum(h."count") AS hits,
                coalesce(sum(h."count") FILTER (WHERE h."statusClass" = '2xx'), 0) AS hits2xx,
                min(h."minute") FILTER (WHERE ${counted}) AS first, max(h."minute") FILTER (WHERE ${counted}) AS last
         FROM "HitRollup" h
         WHERE h."release" = ${release}${sourceRestriction(filters, params, `h."sourceId"`)}${windowRestriction(filters, params, `h."minute"`, "minute")}
         GROUP BY h."operationId", h."sourceId"
       ) p
       GROUP BY p."operationId")
     SELECT e."operationId", e."method", e."path", e."level", e."category", e."group", e."version", e."kind",
            e."action", e."description", e."deprecated", e."conformanceEligible",
            coalesce(hits.hits, 0) AS hits, coalesce(hits.hits2xx, 0) AS hits2xx,
            coalesce(hits.sources, 0) AS sources, hits."firstSeen", hits."lastSeen"
     FROM "Endpoint" e LEFT JOIN hits ON hits."operationId" = e."operationId"
     WHERE e."release" = ${release} AND NOT e."watchOperation"${level}
     ORDER BY array_position(ARRAY['stable', 'beta', 'alpha'], e."level"), e."category", e."operationId"`,
    ...params.values,
  );
}

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

const onlyFlag = process.argv.indexOf("--only");
/** `--only REGEX`: the cases whose name matches, each still with its baseline. */
const only = onlyFlag === -1 ? null : new RegExp(process.argv[onlyFlag + 1] ?? "");
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
      fieldsPerPair: FIELDS_PER_PAIR,
    });
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    console.log(
      `seeded ${seeded.rows.toLocaleString("en")} hit rows = ${seeded.hits.toLocaleString("en")} hits` +
        ` and ${seeded.fieldRows.toLocaleString("en")} field rows in ${seedSeconds.toFixed(1)} s` +
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
  // Windows that cut through hours and days, as relative ones ("from=6h") do at any other time of day.
  const windows = [
    "from=2026-11-28T05:17:00Z&to=2026-11-28T19:42:30Z",
    "from=2026-11-28T05:17:00Z&to=2026-11-28T19:42:30Z&outcome=2xx&namespace=ns-4",
    "from=2026-11-28T10:10:00Z&to=2026-11-28T10:50:00Z&level=stable",
  ];
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
    ["getCoverage from=6h&chart=chart-3", () => getCoverage(db.prisma, filters("from=6h&chart=chart-3"))],
    // What the dashboard's views read: the same selections without each endpoint's sources and times.
    ["  counts only (getCoverageCounts), no filters", () => getCoverageCounts(db.prisma, filters(""))],
    ["  counts only, from=1h", () => getCoverageCounts(db.prisma, filters("from=1h"))],
    [
      "  counts only, from=6h&chart=chart-3",
      () => getCoverageCounts(db.prisma, filters("from=6h&chart=chart-3")),
    ],
    ...windows.map((query): [string, () => Promise<unknown>] => [
      `getCoverage ${query}`,
      () => getCoverage(db.prisma, filters(query)),
    ]),
    [
      "getEndpointDetail listCoreV1NamespacedPod",
      () => getEndpointDetail(db.prisma, "listCoreV1NamespacedPod", filters("")),
    ],
    ["getChart chart-3", () => getChart(db.prisma, "chart-3", filters(""))],
    ["listSources", () => listSources(db.prisma, filters(""))],
    ["listSources from=6h", () => listSources(db.prisma, filters("from=6h"))],
    ["getUnknown", () => getUnknown(db.prisma, filters(""))],
    // What workloads use that conformance tests do not: each followed by the coverage counts of the same
    // selection, what the overview of that selection costs, as its same-run baseline.
    ...[
      "",
      "chart=chart-3",
      "from=6h",
      "from=24h",
      "from=6h&chart=chart-3",
      "namespace=ns-4&outcome=2xx",
    ].map((query): [string, () => Promise<unknown>] => [
      `getPriorities ${query || "(no filters)"}`,
      () => getPriorities(db.prisma, filters(query)),
    ]),
  ];
  // Each windowed case is followed by the same selection the way it was read before: load drifts less
  // between neighbours.
  const windowed = (name: string) => /from=/.test(name) && name.startsWith("getCoverage");
  const paired = cases
    .filter(([name]) => !only || only.test(name))
    .flatMap((entry): Array<[string, () => Promise<unknown>]> => {
      const query = entry[0].replace(/^get(Coverage|Priorities) /, "").replace(/ ?\(.*\)$/, "");
      if (entry[0].startsWith("getPriorities")) {
        return [
          entry,
          [
            "  baseline: getCoverageCounts, same selection",
            () => getCoverageCounts(db.prisma, filters(query)),
          ],
        ];
      }
      return windowed(entry[0])
        ? [entry, ["  before: every minute row scanned", () => minuteScanCoverage(db.prisma, filters(query))]]
        : [entry];
    });
  for (const [name, run] of paired) {
    const { p50, p95 } = await time(run);
    console.log(
      `${name.padEnd(60)} p50 ${p50.toFixed(1).padStart(6)} ms  p95 ${p95.toFixed(1).padStart(6)} ms  (${(p95 / baseline.p95).toFixed(0)}x baseline p95)`,
    );
  }
} finally {
  await db.stop();
}
