import type { Level } from "@apisnoop/openapi";
import { type CoverageCount, type CoverageCounts, countCoverage } from "./coverage-counts";

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
