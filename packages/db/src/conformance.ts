import type { Level } from "@apisnoop/openapi";
import { UPSTREAM_E2E } from "@apisnoop/protocol";
import type { PrismaClient } from "./client";
import { resolveRelease } from "./releases";

/** One endpoint of a release with what the conformance view needs: eligibility and e2e hits. */
export interface ConformanceEndpointRow {
  operationId: string;
  method: string;
  path: string;
  level: Level;
  category: string;
  kind: string | null;
  deprecated: boolean;
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
