/**
 * Which tests made one route of a wall-time pair slower than the other: a pair's two suites run the same
 * tests, so the tests whose own durations differ most are where to look when a pair's ratio stands out
 * (a test that waited out a poll interval on one route, or the proxy holding up a watch).
 */
import type { SpecResult } from "./ginkgo-report";

/** One test's duration on both routes of a pair, in seconds. */
export interface SpecDifference {
  name: string;
  baseline: number;
  measured: number;
}

/**
 * The `count` tests whose durations differ most between the baseline and the measured suite, largest
 * absolute difference first; a test that ran on only one side is left out (nothing to compare).
 */
export function largestSpecDifferences(
  baseline: readonly SpecResult[],
  measured: readonly SpecResult[],
  count: number,
): SpecDifference[] {
  const baselineSeconds = new Map(baseline.map((spec) => [spec.name, spec.durationSeconds]));
  const differences: SpecDifference[] = [];
  for (const spec of measured) {
    const before = baselineSeconds.get(spec.name);
    if (before !== undefined)
      differences.push({ name: spec.name, baseline: before, measured: spec.durationSeconds });
  }
  const size = (difference: SpecDifference) => Math.abs(difference.measured - difference.baseline);
  return differences.sort((a, b) => size(b) - size(a)).slice(0, count);
}

/** `+70.3 s <name> (12.1 → 82.4 s)`, the sign that of measured − baseline. */
export function formatSpecDifference(difference: SpecDifference): string {
  const delta = difference.measured - difference.baseline;
  return `${delta < 0 ? "−" : "+"}${Math.abs(delta).toFixed(1)} s ${difference.name} (${difference.baseline.toFixed(1)} → ${difference.measured.toFixed(1)} s)`;
}
