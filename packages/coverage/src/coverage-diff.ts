import type { Level } from "@apisnoop/openapi";

/** What a coverage diff reads of an endpoint: its identity, level, eligibility and whether it was hit. */
export interface CoveredEndpoint {
  operationId: string;
  level: Level;
  conformanceEligible: boolean;
  /** Hit by the selection (under its outcome). */
  tested: boolean;
  hits: number;
}

/** The coverage of one side of a comparison: a release, or a time window of one release. */
export interface CoverageSide<E extends CoveredEndpoint = CoveredEndpoint> {
  /** What the side is, for people: "1.34", or "2026-11-01 → 2026-11-08". */
  label: string;
  endpoints: readonly E[];
}

/** Endpoints and how many of them are tested, with their hits. */
export interface CoverageCount {
  endpoints: number;
  tested: number;
  hits: number;
}

/** Counts of one side: all endpoints, by level, and the conformance-eligible ones. */
export interface CoverageCounts {
  all: CoverageCount;
  byLevel: Record<Level, CoverageCount>;
  conformanceEligible: CoverageCount;
}

/** How the coverage of one selection changed from one side to the other. */
export interface CoverageDiff<E extends CoveredEndpoint = CoveredEndpoint> {
  from: string;
  to: string;
  counts: { from: CoverageCounts; to: CoverageCounts };
  /** In both, untested before and tested after (the `to` side's rows). */
  newlyTested: E[];
  /** In both, tested before and untested after (the `from` side's rows). */
  noLongerTested: E[];
  /** Only in `to` (added by the later release), and tested. */
  testedAdded: E[];
  /** Only in `from` (removed by the later release), and tested there: calls that will fail. */
  testedRemoved: E[];
}

/** Counts of a list of endpoints: all, by level, conformance-eligible. */
export function countCoverage(endpoints: readonly CoveredEndpoint[]): CoverageCounts {
  const empty = (): CoverageCount => ({ endpoints: 0, tested: 0, hits: 0 });
  const counts: CoverageCounts = {
    all: empty(),
    byLevel: { stable: empty(), beta: empty(), alpha: empty() },
    conformanceEligible: empty(),
  };
  const add = (count: CoverageCount, endpoint: CoveredEndpoint) => {
    count.endpoints++;
    if (endpoint.tested) count.tested++;
    count.hits += endpoint.hits;
  };
  for (const endpoint of endpoints) {
    add(counts.all, endpoint);
    add(counts.byLevel[endpoint.level], endpoint);
    if (endpoint.conformanceEligible) add(counts.conformanceEligible, endpoint);
  }
  return counts;
}

/**
 * Compares the coverage of one selection on two sides (two releases, or two time windows of one release),
 * endpoints matched by operationId. Lists keep the order of their side.
 */
export function diffCoverage<E extends CoveredEndpoint>(
  from: CoverageSide<E>,
  to: CoverageSide<E>,
): CoverageDiff<E> {
  const before = new Map(from.endpoints.map((e) => [e.operationId, e]));
  const after = new Map(to.endpoints.map((e) => [e.operationId, e]));
  return {
    from: from.label,
    to: to.label,
    counts: { from: countCoverage(from.endpoints), to: countCoverage(to.endpoints) },
    newlyTested: to.endpoints.filter((e) => e.tested && before.get(e.operationId)?.tested === false),
    noLongerTested: from.endpoints.filter((e) => e.tested && after.get(e.operationId)?.tested === false),
    testedAdded: to.endpoints.filter((e) => e.tested && !before.has(e.operationId)),
    testedRemoved: from.endpoints.filter((e) => e.tested && !after.has(e.operationId)),
  };
}

/** `tested / endpoints` as a percentage with one decimal ("0.0" without endpoints). */
export function coveragePercent(count: Pick<CoverageCount, "endpoints" | "tested">): string {
  return count.endpoints === 0 ? "0.0" : ((100 * count.tested) / count.endpoints).toFixed(1);
}
