import type { EndpointHeadline } from "@apisnoop/openapi";
import { UPSTREAM_E2E } from "@apisnoop/protocol";
import type { PrismaClient } from "./client";
import { resolveRelease } from "./releases";

/** One endpoint of a release with what the conformance view needs: eligibility and e2e hits. */
export interface ConformanceEndpointRow extends EndpointHeadline {
  conformanceEligible: boolean;
  /** Why `ineligible_endpoints.json` lists it; null when not listed. */
  ineligibleReason: string | null;
  /** Hit by any source of that name. */
  tested: boolean;
  /** Hit by a source of that name whose e2e test is a conformance test. */
  conformanceTested: boolean;
}

/**
 * Every endpoint of a release (default: the default release; watch operations excluded) with whether the
 * sources named `sourceName` hit it at all and through a conformance test: by default `upstream-e2e`,
 * what `apisnoop import apisnoop` stores. Reads all-time per-source totals. Throws NotFoundError for a
 * release that is not loaded.
 */
export async function getConformance(
  prisma: PrismaClient,
  options: { release?: string | undefined; sourceName?: string } = {},
): Promise<{ release: string; sourceName: string; endpoints: ConformanceEndpointRow[] }> {
  const release = await resolveRelease(prisma, options.release);
  const sourceName = options.sourceName ?? UPSTREAM_E2E;
  const endpoints = await prisma.$queryRawUnsafe<ConformanceEndpointRow[]>(
    `WITH hit AS (
       SELECT h."operationId", bool_or(s."conformance") AS conformance
       FROM "HitTotal" h JOIN "Source" s ON s."id" = h."sourceId"
       WHERE h."release" = $1 AND s."name" = $2 AND h."hits" > 0
       GROUP BY h."operationId"
     )
     SELECT e."operationId", e."method", e."path", e."level", e."category", e."kind", e."deprecated",
            e."conformanceEligible", e."ineligibleReason",
            hit."operationId" IS NOT NULL AS tested, coalesce(hit.conformance, false) AS "conformanceTested"
     FROM "Endpoint" e LEFT JOIN hit ON hit."operationId" = e."operationId"
     WHERE e."release" = $1 AND NOT e."watchOperation"
     ORDER BY e."category", e."operationId"`,
    release,
    sourceName,
  );
  return { release, sourceName, endpoints };
}

/** One conformance-eligible endpoint that takes a request body, and how much of its schema conformance tests sent. */
export interface RequestFieldCoverage {
  operationId: string;
  method: string;
  path: string;
  kind: string | null;
  /** The schema definition its request bodies are read against. */
  definition: string;
  /** Field paths that schema has (`FieldSchema.schemaFields`). */
  schemaFields: number;
  /** Of them, fields the recorded conformance tests sent to this endpoint. */
  sent: number;
  /** A conformance test run through the proxy (or an import of its hits) hits the endpoint. */
  testedByRun: boolean;
}

/** Conformance tests recorded together: one user agent (the e2e binary) and source name. */
export interface ConformanceRun {
  /** The source name (`X-Apisnoop-Source`), when given. */
  name: string | null;
  /** The user agent without the test name: `e2e.test/v1.34.4 (linux/amd64) kubernetes/abc`. */
  userAgent: string;
  tests: number;
  /** Endpoints of the release its tests hit. */
  endpoints: number;
  /** Whether its request bodies were recorded (a run through the proxy; audit logs have none). */
  requestFields: boolean;
  firstSeen: Date;
  lastSeen: Date;
}

/** Field-level conformance coverage of a release's eligible endpoints, from the recorded conformance runs. */
export interface ConformanceFieldCoverage {
  release: string;
  /** Eligible endpoints that take a request body, least covered first among those the runs hit. */
  endpoints: RequestFieldCoverage[];
  totals: {
    /** Conformance-eligible endpoints, and of them hit by the runs (the endpoint-level figure). */
    eligible: number;
    eligibleTestedByRun: number;
    /** Eligible endpoints with a request body, their schemas' fields, and the fields sent. */
    withBody: number;
    schemaFields: number;
    sent: number;
  };
  /** The runs the figures come from (published data has no fields: it is not a run here). */
  runs: ConformanceRun[];
  /** Request schemas are stored for the release (it was loaded by a version that stores them). */
  schemasStored: boolean;
}

/**
 * For a release's conformance-eligible endpoints (default: the default release), the share of their
 * request-schema fields that recorded conformance tests sent (request bodies through the proxy; apisnoop's
 * published data has no fields), per endpoint and in total, next to the share of eligible endpoints those
 * runs hit, and the runs they come from. Reads all-time per-source totals. Throws NotFoundError for a
 * release that is not loaded.
 */
export async function getConformanceFieldCoverage(
  prisma: PrismaClient,
  options: { release?: string | undefined } = {},
): Promise<ConformanceFieldCoverage> {
  const release = await resolveRelease(prisma, options.release);
  const recorded = `SELECT s."id", s."name", s."userAgent", s."e2eTest" FROM "Source" s
     WHERE s."conformance" AND s."name" IS DISTINCT FROM '${UPSTREAM_E2E}'`;
  const [endpoints, totals, runs, stored] = await Promise.all([
    prisma.$queryRawUnsafe<RequestFieldCoverage[]>(
      `WITH eligible AS MATERIALIZED (
         SELECT e."operationId", e."method", e."path", e."kind", e."requestDefinition"
         FROM "Endpoint" e
         WHERE e."release" = $1 AND e."conformanceEligible" AND NOT e."watchOperation" AND e."requestDefinition" IS NOT NULL
       ),
       runs AS MATERIALIZED (${recorded}),
       hit AS MATERIALIZED (
         SELECT DISTINCT h."operationId" FROM runs r
         CROSS JOIN LATERAL (SELECT h."operationId" FROM "HitTotal" h
           WHERE h."release" = $1 AND h."sourceId" = r."id" AND h."hits" > 0 OFFSET 0) h
       ),
       sent AS (
         SELECT f."operationId", count(DISTINCT f."field")::int AS sent
         FROM runs r
         CROSS JOIN LATERAL (SELECT f."operationId", f."field" FROM "FieldTotal" f
           WHERE f."release" = $1 AND f."sourceId" = r."id" AND f."direction" = 'request' AND NOT f."unknown" OFFSET 0) f
         JOIN eligible e ON e."operationId" = f."operationId"
         JOIN "RequestSchemaField" q ON q."release" = $1 AND q."definition" = e."requestDefinition" AND q."field" = f."field"
         GROUP BY f."operationId"
       ),
       schema AS (
         SELECT q."definition", count(*)::int AS fields FROM "RequestSchemaField" q
         WHERE q."release" = $1 GROUP BY q."definition"
       )
       SELECT e."operationId", e."method", e."path", e."kind", e."requestDefinition" AS definition,
              coalesce(q.fields, 0) AS "schemaFields", coalesce(t.sent, 0) AS sent,
              h."operationId" IS NOT NULL AS "testedByRun"
       FROM eligible e
       LEFT JOIN schema q ON q."definition" = e."requestDefinition"
       LEFT JOIN sent t ON t."operationId" = e."operationId"
       LEFT JOIN hit h ON h."operationId" = e."operationId"
       ORDER BY "testedByRun" DESC, (coalesce(t.sent, 0)::float8 / greatest(coalesce(q.fields, 0), 1)), e."operationId"`,
      release,
    ),
    prisma.$queryRawUnsafe<Array<{ eligible: number; eligibleTestedByRun: number }>>(
      `WITH runs AS MATERIALIZED (${recorded})
       SELECT count(*)::int AS eligible,
              count(*) FILTER (WHERE e."operationId" IN (
                SELECT h."operationId" FROM runs r
                CROSS JOIN LATERAL (SELECT h."operationId" FROM "HitTotal" h
                  WHERE h."release" = $1 AND h."sourceId" = r."id" AND h."hits" > 0 OFFSET 0) h))::int
                AS "eligibleTestedByRun"
       FROM "Endpoint" e WHERE e."release" = $1 AND e."conformanceEligible" AND NOT e."watchOperation"`,
      release,
    ),
    prisma.$queryRawUnsafe<ConformanceRun[]>(
      `WITH runs AS MATERIALIZED (${recorded})
       SELECT r."name", split_part(r."userAgent", ' -- ', 1) AS "userAgent", count(DISTINCT r."e2eTest")::int AS tests,
              count(DISTINCT h."operationId")::int AS endpoints,
              bool_or(EXISTS (SELECT 1 FROM "FieldTotal" f
                WHERE f."release" = $1 AND f."sourceId" = r."id" AND f."direction" = 'request')) AS "requestFields",
              min(h."firstSeen") AS "firstSeen", max(h."lastSeen") AS "lastSeen"
       FROM runs r JOIN "HitTotal" h ON h."release" = $1 AND h."sourceId" = r."id" AND h."hits" > 0
       GROUP BY 1, 2 ORDER BY "lastSeen" DESC, 2`,
      release,
    ),
    prisma.requestSchemaField.findFirst({ where: { release }, select: { release: true } }),
  ]);
  const rows = endpoints.map((row) => ({
    operationId: row.operationId,
    method: row.method,
    path: row.path,
    kind: row.kind,
    definition: row.definition,
    schemaFields: row.schemaFields,
    sent: row.sent,
    testedByRun: row.testedByRun,
  }));
  return {
    release,
    endpoints: rows,
    totals: {
      eligible: totals[0]?.eligible ?? 0,
      eligibleTestedByRun: totals[0]?.eligibleTestedByRun ?? 0,
      withBody: rows.length,
      schemaFields: rows.reduce((sum, row) => sum + row.schemaFields, 0),
      sent: rows.reduce((sum, row) => sum + row.sent, 0),
    },
    runs,
    schemasStored: stored !== null,
  };
}
