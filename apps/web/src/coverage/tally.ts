import { type CountedEndpoint, type CoverageCount, countCoverage } from "@apisnoop/coverage/counts";
import { LEVELS, type Level } from "@apisnoop/openapi/level";
import type { Tally } from "../data/dashboard-data";

/**
 * Endpoints hit, overall, per level and among the conformance-eligible ones: coverage's one count
 * (`countCoverage`, hits already under the outcome), in the `{total, hit}` shape the pages and the HTTP
 * API show.
 */
export function tally(endpoints: readonly CountedEndpoint[]): {
  all: Tally;
  byLevel: Record<Level, Tally>;
  eligible: Tally;
} {
  const counts = countCoverage(endpoints);
  const of = (count: CoverageCount): Tally => ({ total: count.endpoints, hit: count.tested });
  return {
    all: of(counts.all),
    byLevel: Object.fromEntries(LEVELS.map((level) => [level, of(counts.byLevel[level])])) as Record<
      Level,
      Tally
    >,
    eligible: of(counts.conformanceEligible),
  };
}
