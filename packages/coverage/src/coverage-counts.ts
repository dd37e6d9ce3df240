import { LEVELS, type Level } from "@apisnoop/openapi/level";

/** An endpoint as coverage counts it: its level, its eligibility and its hits. */
export interface CountedEndpoint {
  level: Level;
  conformanceEligible: boolean;
  /** Its hits: a query row's (all of them), or only those under the selection's outcome. */
  hits: number;
  /**
   * Hit under the selection's outcome. Absent when `hits` are already counted under the outcome: then any
   * hit tests the endpoint.
   */
  tested?: boolean;
}

/** Endpoints, how many of them are tested, and their hits. */
export interface CoverageCount {
  endpoints: number;
  tested: number;
  hits: number;
}

/** Counts of a list of endpoints: all, by level, and the conformance-eligible ones. */
export interface CoverageCounts {
  all: CoverageCount;
  byLevel: Record<Level, CoverageCount>;
  conformanceEligible: CoverageCount;
}

/**
 * How much of a list of endpoints is covered, overall, per level and among the conformance-eligible
 * ones: the one count behind the dashboard's totals, the badge, the CLI's and the database's coverage,
 * and release comparisons. No imports but the levels, so client components can use it
 * (`@apisnoop/coverage/counts`).
 */
export function countCoverage(endpoints: readonly CountedEndpoint[]): CoverageCounts {
  const empty = (): CoverageCount => ({ endpoints: 0, tested: 0, hits: 0 });
  const counts: CoverageCounts = {
    all: empty(),
    byLevel: Object.fromEntries(LEVELS.map((level) => [level, empty()])) as Record<Level, CoverageCount>,
    conformanceEligible: empty(),
  };
  const add = (count: CoverageCount, endpoint: CountedEndpoint, tested: boolean) => {
    count.endpoints++;
    if (tested) count.tested++;
    count.hits += endpoint.hits;
  };
  for (const endpoint of endpoints) {
    const tested = endpoint.tested ?? endpoint.hits > 0;
    add(counts.all, endpoint, tested);
    add(counts.byLevel[endpoint.level], endpoint, tested);
    if (endpoint.conformanceEligible) add(counts.conformanceEligible, endpoint, tested);
  }
  return counts;
}
