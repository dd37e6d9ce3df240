/**
 * Per-test comparison of the endpoints the proxy attributed to a test with apisnoop's published list, every
 * difference given the class that explains it (difference-classes.ts) or marked unexplained.
 */
import type { DifferenceClass, EndpointDifference } from "./difference-classes";
import { explainDifference } from "./difference-classes";
import type { SpecResult } from "./ginkgo-report";
import type { EndpointsByTest } from "./test-endpoints";

/** One difference and its explanation (null: unexplained). */
export interface ExplainedDifference {
  endpoint: string;
  explanation: DifferenceClass["id"] | null;
}

export interface TestComparison {
  test: string;
  state: SpecResult["state"];
  /** apisnoop's 1.34.0 data names this test. */
  published: boolean;
  /** In both sets. */
  matches: string[];
  /** Seen through the proxy, not in apisnoop's list. */
  extras: ExplainedDifference[];
  /** In apisnoop's list, not seen through the proxy. */
  misses: ExplainedDifference[];
}

/** Totals over all compared tests. */
export interface ComparisonSummary {
  tests: number;
  passed: number;
  identical: number;
  matches: number;
  extras: number;
  misses: number;
  unexplained: number;
  /** Differences per explanation class id. */
  byClass: Record<string, number>;
}

const sorted = (values: Iterable<string>) => [...values].sort();

/**
 * Compares each run test's observed set with its published set. Each difference gets the first class of
 * `options.classes` (default: DIFFERENCE_CLASSES) whose rule holds.
 */
export function compareTests(
  specs: readonly SpecResult[],
  observed: EndpointsByTest,
  published: EndpointsByTest,
  options: {
    classes?: readonly DifferenceClass[];
    /** Per test, the operations answered with a 2xx at least once (rules about the run read it). */
    succeeded?: EndpointsByTest;
  } = {},
): TestComparison[] {
  const { classes, succeeded } = options;
  return specs.map((spec) => {
    const seen = observed.get(spec.name) ?? new Set<string>();
    const answered = succeeded?.get(spec.name) ?? null;
    const listed = published.get(spec.name);
    const expected = listed ?? new Set<string>();
    const explain = (endpoint: string, side: EndpointDifference["side"]): ExplainedDifference => ({
      endpoint,
      explanation:
        explainDifference(
          { test: spec.name, endpoint, side },
          { observed: seen, published: listed ?? null, state: spec.state, succeeded: answered },
          classes,
        )?.id ?? null,
    });
    return {
      test: spec.name,
      state: spec.state,
      published: listed !== undefined,
      matches: sorted([...seen].filter((e) => expected.has(e))),
      extras: sorted([...seen].filter((e) => !expected.has(e))).map((e) => explain(e, "extra")),
      misses: sorted([...expected].filter((e) => !seen.has(e))).map((e) => explain(e, "miss")),
    };
  });
}

/** Totals of a comparison, for the report header and the README. */
export function summarizeComparison(comparisons: readonly TestComparison[]): ComparisonSummary {
  const summary: ComparisonSummary = {
    tests: comparisons.length,
    passed: comparisons.filter((c) => c.state === "passed").length,
    identical: comparisons.filter((c) => c.extras.length === 0 && c.misses.length === 0).length,
    matches: 0,
    extras: 0,
    misses: 0,
    unexplained: 0,
    byClass: {},
  };
  for (const c of comparisons) {
    summary.matches += c.matches.length;
    summary.extras += c.extras.length;
    summary.misses += c.misses.length;
    for (const d of [...c.extras, ...c.misses]) {
      if (d.explanation === null) summary.unexplained++;
      else summary.byClass[d.explanation] = (summary.byClass[d.explanation] ?? 0) + 1;
    }
  }
  return summary;
}
