import type { EndpointHeadline } from "@apisnoop/openapi";
import { UPSTREAM_E2E } from "@apisnoop/protocol";
import type { PrismaClient } from "./client";
import { narrowWindow } from "./data-window";
import type { CoverageFilters, Outcome, SourceFilters } from "./filters";
import { resolveRelease } from "./releases";
import { endpointSourceHitsSql, hasSourceFilter, hasWindow, SqlParams } from "./selection-sql";
import { CONFORMANCE_SOURCE, WORKLOAD_SOURCE, workloadFilters } from "./workloads";

/** An endpoint that workloads call and no conformance test exercises: a test worth writing. */
export interface PriorityEndpoint extends EndpointHeadline {
  conformanceEligible: boolean;
  /** Distinct workloads that called it in the selection. */
  workloads: number;
  /** Their hits (under the outcome). */
  hits: number;
  /** Always false in `endpoints`: no recorded conformance test hits it. */
  conformanceTested: boolean;
  /** Some other (non-conformance) e2e test hits it: a test exists that could be promoted. */
  e2eTested: boolean;
  /** The workloads, most hits first (see `workloads.ts` for their names). */
  workloadNames: string[];
}

/** A body field that workloads send or read on an endpoint and no conformance test's bodies carried there. */
export interface PriorityField {
  operationId: string;
  direction: "request" | "response";
  /** GUIDE §3 field path, `<definition>:<dotted.path>`. */
  field: string;
  workloads: number;
  /** Times bodies carried it. */
  hits: number;
  workloadNames: string[];
  /** A conformance test hits the endpoint (the gap is in an existing test's bodies). */
  endpointConformanceTested: boolean;
  /**
   * A conformance test's bodies in this direction were recorded on the endpoint (through the proxy). When
   * false on a tested endpoint, the gap is unknown rather than real: published data has no fields.
   */
  conformanceBodiesRecorded: boolean;
}

/** A workload of the selection and how much of what it calls no conformance test exercises. */
export interface PriorityWorkload {
  /** As in `workloadNames` (`chart ingress-nginx`, `sa ops/deployer`, `kubectl`). */
  name: string;
  /** The dashboard filters that select its sources; null when none can (no user agent). */
  filters: SourceFilters | null;
  /** Endpoints it calls that no conformance test hits, and of them conformance-eligible ones. */
  untestedEndpoints: number;
  untestedEligible: number;
  /** Endpoints it calls in all. */
  endpoints: number;
}

/** Where the conformance coverage a priorities view subtracts comes from. */
export interface ConformanceEvidence {
  /** Conformance tests recorded in the release: through the proxy (or an import of its hits), and published. */
  runTests: number;
  publishedTests: number;
  /** Endpoints of the release they hit. */
  endpointsTested: number;
  /** Endpoints on which conformance bodies were recorded (published data has none). */
  endpointsWithFields: number;
}

/** What real workloads use that the conformance suite does not test yet, ranked: the tests to write next. */
export interface Priorities {
  release: string;
  outcome: Outcome;
  /** Endpoints workloads call that no conformance test hits: most workloads first, then most hits. */
  endpoints: PriorityEndpoint[];
  /** Field gaps, ranked the same way; at most `limit` rows (`totals.fields` has them all). */
  fields: PriorityField[];
  /** Alpha and beta endpoints workloads call, most workloads first: tests a promotion will need. */
  promotionWatch: PriorityEndpoint[];
  /** Every workload with hits in the selection: most untested eligible endpoints first. */
  workloads: PriorityWorkload[];
  totals: {
    /** Distinct workloads with hits on the release's endpoints (of `level`) in the selection. */
    workloads: number;
    endpoints: number;
    /** Of which conformance-eligible. */
    eligibleEndpoints: number;
    fields: number;
    promotionWatch: number;
  };
  conformance: ConformanceEvidence;
}

/** Rows of each list at most, unless the caller asks otherwise; fields can number tens of thousands. */
export const DEFAULT_PRIORITIES_LIMIT = 200;

interface UsedEndpointRow extends Omit<PriorityEndpoint, "conformanceTested"> {
  conformanceTested: boolean;
}

/**
 * The gaps between what the selection's workloads (every source that is no e2e test, narrowed by the
 * source filters, time window and outcome of `filters`) use and what the conformance tests recorded in
 * the release exercise: endpoints, body fields, and alpha/beta endpoints to watch. Conformance coverage is
 * every conformance test of the release whatever the window — runs through the proxy (endpoints and
 * fields) and apisnoop's published data (endpoints only) — with any response. Fields count uses of the
 * schema's own fields (unknown ones are not testable); the outcome does not apply to them (bodies carry
 * no status). `level` narrows every list. Each list holds at most `limit` rows.
 */
export async function getPriorities(
  prisma: PrismaClient,
  asked: CoverageFilters,
  options: { limit?: number } = {},
): Promise<Priorities> {
  // A window holding all the data is no window (`from=0`): the totals answer it, never a scan of buckets.
  const [release, filters] = await Promise.all([
    resolveRelease(prisma, asked.release),
    narrowWindow(prisma, asked),
  ]);
  const limit = options.limit ?? DEFAULT_PRIORITIES_LIMIT;
  const [used, fields, evidence] = await Promise.all([
    usedEndpoints(prisma, release, filters),
    fieldGaps(prisma, release, filters, limit),
    conformanceEvidence(prisma, release),
  ]);
  const workloads = new Map<string, PriorityWorkload>();
  for (const row of used) {
    for (const name of row.workloadNames) {
      let workload = workloads.get(name);
      if (!workload) {
        workload = {
          name,
          filters: workloadFilters(name),
          untestedEndpoints: 0,
          untestedEligible: 0,
          endpoints: 0,
        };
        workloads.set(name, workload);
      }
      workload.endpoints++;
      if (!row.conformanceTested) {
        workload.untestedEndpoints++;
        if (row.conformanceEligible) workload.untestedEligible++;
      }
    }
  }
  const untested = used.filter((row) => !row.conformanceTested);
  const watch = used.filter((row) => row.level !== "stable");
  return {
    release,
    outcome: filters.outcome,
    endpoints: untested.slice(0, limit),
    fields: fields.rows,
    promotionWatch: watch.slice(0, limit),
    workloads: [...workloads.values()].sort(
      (a, b) =>
        b.untestedEligible - a.untestedEligible ||
        b.untestedEndpoints - a.untestedEndpoints ||
        a.name.localeCompare(b.name),
    ),
    totals: {
      workloads: workloads.size,
      endpoints: untested.length,
      eligibleEndpoints: untested.filter((row) => row.conformanceEligible).length,
      fields: fields.total,
      promotionWatch: watch.length,
    },
    conformance: evidence,
  };
}

/** Whether a selection is every workload of the release, all time: what the totals per workload answer. */
const everyWorkload = (filters: CoverageFilters) => !hasWindow(filters) && !hasSourceFilter(filters);

/** The hits column of an endpoint x source row that counts under the outcome. */
const countedHits = (outcome: Outcome) => (outcome === "2xx" ? "hits2xx" : "hits");

/** Every endpoint of the release the workloads called, ranked, with what tests hit it. */
async function usedEndpoints(
  prisma: PrismaClient,
  release: string,
  filters: CoverageFilters,
): Promise<UsedEndpointRow[]> {
  const params = new SqlParams();
  const releaseParam = params.add(release);
  const hits = countedHits(filters.outcome);
  const level = filters.level ? ` AND e."level" = ${params.add(filters.level)}` : "";
  // The whole release's workloads: the totals kept per workload. A selection: its sources' hits.
  const used = everyWorkload(filters)
    ? `SELECT w."operationId", w."workload", w."${hits}"::float8 AS hits
       FROM "WorkloadHitTotal" w WHERE w."release" = ${releaseParam} AND w."${hits}" > 0`
    : `SELECT p."operationId", s."workload", sum(p.hits) AS hits
       FROM (${endpointSourceHitsSql(filters, params, releaseParam, WORKLOAD_SOURCE)}) p
       JOIN "Source" s ON s."id" = p."sourceId"
       WHERE p.${hits} > 0
       GROUP BY 1, 2`;
  return prisma.$queryRawUnsafe<UsedEndpointRow[]>(
    // Aggregated per endpoint before the spec's columns join: grouping by all of them sorted every row.
    `WITH used AS MATERIALIZED (${used}),
     per AS (
       SELECT u."operationId", count(*)::int AS workloads, sum(u.hits)::float8 AS hits,
              array_agg(u."workload" ORDER BY u.hits DESC, u."workload") AS "workloadNames"
       FROM used u GROUP BY u."operationId"
     ),
     tested AS MATERIALIZED (${testedEndpointsSql(releaseParam)})
     SELECT e."operationId", e."method", e."path", e."level", e."category", e."kind", e."deprecated",
            e."conformanceEligible", p.workloads, p.hits, coalesce(t.conformance, false) AS "conformanceTested",
            coalesce(t.e2e, false) AS "e2eTested", p."workloadNames"
     FROM per p
     JOIN "Endpoint" e ON e."release" = ${releaseParam} AND e."operationId" = p."operationId" AND NOT e."watchOperation"${level}
     LEFT JOIN tested t ON t."operationId" = p."operationId"
     ORDER BY p.workloads DESC, p.hits DESC, e."operationId"`,
    ...params.values,
  );
}

/**
 * A SELECT of the endpoints that tests hit in the release, all time, any response: "operationId",
 * `conformance` (a conformance test, recorded or published), `e2e` (another e2e test, named or the
 * suite's set-up). Reads the per-source totals of test sources only.
 */
function testedEndpointsSql(releaseParam: string): string {
  return `SELECT h."operationId", bool_or(s."conformance") AS conformance, bool_or(NOT s."conformance") AS e2e
     FROM (SELECT s."id", s."conformance" FROM "Source" s WHERE NOT ${WORKLOAD_SOURCE}) s
     CROSS JOIN LATERAL (
       SELECT h."operationId" FROM "HitTotal" h
       WHERE h."release" = ${releaseParam} AND h."sourceId" = s."id" AND h."hits" > 0 OFFSET 0
     ) h
     GROUP BY h."operationId"`;
}

/**
 * Field uses of the workloads that no conformance body carried on the same endpoint, ranked. Without
 * source filters or window, the all-time totals per workload; otherwise the all-time totals of each
 * selected source on each endpoint it called in the selection (hourly field rows are far too many to
 * sum per view: with a window, the fields are those the workloads active in it use on the endpoints
 * they called in it, counted over all time). The workloads' names are gathered for the rows shown only.
 */
async function fieldGaps(
  prisma: PrismaClient,
  release: string,
  filters: CoverageFilters,
  limit: number,
): Promise<{ rows: PriorityField[]; total: number }> {
  const params = new SqlParams();
  const releaseParam = params.add(release);
  const level = filters.level ? ` AND e."level" = ${params.add(filters.level)}` : "";
  // The release's endpoints (of the level) that `alias` names. A selection joins them to its distinct
  // endpoint x source pairs (DISTINCT keeps the planner from moving the join): joined to the uses left
  // by NOT EXISTS (estimated at one row), they were looped over once per endpoint (31 s on the benchmark's
  // data for from=6h).
  const endpointOf = (alias: string) =>
    `JOIN "Endpoint" e ON e."release" = ${releaseParam} AND e."operationId" = ${alias}."operationId" AND NOT e."watchOperation"${level}`;
  const order = `workloads DESC, hits DESC, u."operationId", u."direction", u."field"`;
  // The whole release's workloads: each field's use and workload count kept at ingest, and the names of
  // the shown rows' workloads. A selection: the fields used on the endpoints called in it, per workload.
  const activePairs = `SELECT p."operationId", p."sourceId"
     FROM (${endpointSourceHitsSql(filters, params, releaseParam, WORKLOAD_SOURCE)}) p WHERE p.hits > 0`;
  // Source filters: each selected source's own fields on the endpoints it called in the selection.
  const selectedSourcesFields = `SELECT f."operationId", f."direction", f."field", s."workload", f."count"
     FROM (SELECT DISTINCT a."operationId", a."sourceId" FROM (${activePairs}) a ${endpointOf("a")}) p
     JOIN "Source" s ON s."id" = p."sourceId"
     JOIN "FieldTotal" f ON f."release" = ${releaseParam} AND f."sourceId" = p."sourceId"
       AND f."operationId" = p."operationId" AND NOT f."unknown"`;
  // A time window over every workload: the fields of each workload active in it on the endpoints it
  // called in it, from the per-workload totals (one hash join, not a lookup per source and endpoint).
  const activeWorkloadsFields = `SELECT w."operationId", w."direction", w."field", w."workload", w."count"
     FROM (SELECT DISTINCT a."operationId", s."workload" FROM (${activePairs}) a
           JOIN "Source" s ON s."id" = a."sourceId" ${endpointOf("a")}) p
     JOIN "WorkloadFieldTotal" w ON w."release" = ${releaseParam} AND w."operationId" = p."operationId"
       AND w."workload" = p."workload"`;
  // Per source, a workload's sources are summed. The per-workload totals are one row per workload and
  // field already: grouping them again sorted the 116,000 uses of a 6-hour window a second time (0.4 s on
  // the benchmark's data; the ranking sorts them once anyway).
  const perSource = hasSourceFilter(filters);
  const ranking = everyWorkload(filters)
    ? `ranked AS MATERIALIZED (
         SELECT u."operationId", u."direction", u."field", u."workloads", u."count"::float8 AS hits,
                count(*) OVER ()::int AS total
         FROM "FieldUse" u ${endpointOf("u")}
         WHERE u."release" = ${releaseParam} AND u."workloads" > 0 AND NOT u."conformance"
         ORDER BY ${order}
         LIMIT ${params.add(limit)}
       ),
       named AS (
         SELECT r."operationId", r."direction", r."field",
                array_agg(w."workload" ORDER BY w."count" DESC, w."workload") AS "workloadNames"
         FROM ranked r JOIN "WorkloadFieldTotal" w
           ON w."release" = ${releaseParam} AND w."operationId" = r."operationId" AND w."direction" = r."direction"
           AND w."field" = r."field"
         GROUP BY 1, 2, 3
       )`
    : // The fields conformance bodies carried, as a set: looked up in FieldUse's index for each use, NOT
      // EXISTS took seconds over the 220,000 uses of a 6-hour window; against the set, one hash.
      `carried AS MATERIALIZED (
         SELECT c."operationId", c."direction", c."field" FROM "FieldUse" c
         WHERE c."release" = ${releaseParam} AND c."conformance"
       ),
       used AS MATERIALIZED (
         SELECT u."operationId", u."direction", u."field", u."workload", ${perSource ? `sum(u."count")` : `u."count"`} AS hits
         FROM (${perSource ? selectedSourcesFields : activeWorkloadsFields}) u
         WHERE NOT EXISTS (
           SELECT 1 FROM carried c
           WHERE c."operationId" = u."operationId" AND c."direction" = u."direction" AND c."field" = u."field"
         )
         ${perSource ? "GROUP BY 1, 2, 3, 4" : ""}
       ),
       ranked AS MATERIALIZED (
         SELECT u."operationId", u."direction", u."field", count(*)::int AS workloads, sum(u.hits)::float8 AS hits,
                count(*) OVER ()::int AS total,
                array_agg(u."workload" ORDER BY u.hits DESC, u."workload") AS names
         FROM used u
         GROUP BY u."operationId", u."direction", u."field"
         ORDER BY ${order}
         LIMIT ${params.add(limit)}
       ),
       named AS (SELECT r."operationId", r."direction", r."field", r.names AS "workloadNames" FROM ranked r)`;
  const rows = await prisma.$queryRawUnsafe<Array<PriorityField & { total: number }>>(
    // Materialized steps, and a selection's names gathered while ranking: inlined, or joined back to the
    // uses (estimated at one row), the planner scanned every use once per shown row (143 s on the
    // benchmark's data for one chart).
    `WITH ${ranking},
     tested AS MATERIALIZED (${testedEndpointsSql(releaseParam)})
     SELECT r."operationId", r."direction", r."field", r.workloads, r.hits, r.total, n."workloadNames", coalesce(t.conformance, false) AS "endpointConformanceTested",
            EXISTS (
              SELECT 1 FROM "FieldUse" c
              WHERE c."release" = ${releaseParam} AND c."operationId" = r."operationId"
                AND c."direction" = r."direction" AND c."conformance"
            ) AS "conformanceBodiesRecorded"
     FROM ranked r
     JOIN named n ON n."operationId" = r."operationId" AND n."direction" = r."direction" AND n."field" = r."field"
     LEFT JOIN tested t ON t."operationId" = r."operationId"
     ORDER BY r.workloads DESC, r.hits DESC, r."operationId", r."direction", r."field"`,
    ...params.values,
  );
  return {
    total: rows[0]?.total ?? 0,
    rows: rows.map((row) => ({
      operationId: row.operationId,
      direction: row.direction,
      field: row.field,
      workloads: row.workloads,
      hits: row.hits,
      workloadNames: row.workloadNames,
      endpointConformanceTested: row.endpointConformanceTested,
      conformanceBodiesRecorded: row.conformanceBodiesRecorded,
    })),
  };
}

/** How much conformance data the release has, and of which kind. */
async function conformanceEvidence(prisma: PrismaClient, release: string): Promise<ConformanceEvidence> {
  const params = new SqlParams();
  const releaseParam = params.add(release);
  const [row] = await prisma.$queryRawUnsafe<ConformanceEvidence[]>(
    `WITH tests AS MATERIALIZED (
       SELECT s."id", s."e2eTest", coalesce(s."name" = '${UPSTREAM_E2E}', false) AS published
       FROM "Source" s WHERE ${CONFORMANCE_SOURCE}
     ),
     hit AS MATERIALIZED (
       SELECT t."id", h."operationId"
       FROM tests t CROSS JOIN LATERAL (
         SELECT h."operationId" FROM "HitTotal" h
         WHERE h."release" = ${releaseParam} AND h."sourceId" = t."id" AND h."hits" > 0 OFFSET 0
       ) h
     )
     SELECT (SELECT count(DISTINCT t."e2eTest") FROM tests t
               WHERE NOT t.published AND t."id" IN (SELECT h."id" FROM hit h))::int AS "runTests",
            (SELECT count(DISTINCT t."e2eTest") FROM tests t
               WHERE t.published AND t."id" IN (SELECT h."id" FROM hit h))::int AS "publishedTests",
            (SELECT count(*) FROM (SELECT h."operationId" FROM hit h
               JOIN "Endpoint" e ON e."release" = ${releaseParam} AND e."operationId" = h."operationId"
                 AND NOT e."watchOperation" GROUP BY 1) h)::int AS "endpointsTested",
            (SELECT count(*) FROM (SELECT c."operationId" FROM "FieldUse" c
               WHERE c."release" = ${releaseParam} AND c."conformance" GROUP BY 1) c)::int AS "endpointsWithFields"`,
    ...params.values,
  );
  return row as ConformanceEvidence;
}
