import type { Level } from "@apisnoop/openapi";
import type { EndpointCoverage, Tally } from "../data/dashboard-data";

/** Endpoints hit, overall, per level and among the conformance-eligible ones. */
export function tally(
  endpoints: readonly Pick<EndpointCoverage, "hits" | "level" | "conformanceEligible">[],
): {
  all: Tally;
  byLevel: Record<Level, Tally>;
  eligible: Tally;
} {
  const all = { total: 0, hit: 0 };
  const eligible = { total: 0, hit: 0 };
  const byLevel: Record<Level, Tally> = {
    stable: { total: 0, hit: 0 },
    beta: { total: 0, hit: 0 },
    alpha: { total: 0, hit: 0 },
  };
  for (const endpoint of endpoints) {
    const hit = endpoint.hits > 0 ? 1 : 0;
    all.total++;
    all.hit += hit;
    byLevel[endpoint.level].total++;
    byLevel[endpoint.level].hit += hit;
    if (endpoint.conformanceEligible) {
      eligible.total++;
      eligible.hit += hit;
    }
  }
  return { all, byLevel, eligible };
}
