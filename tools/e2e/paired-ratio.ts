/**
 * The verdict of a paired wall-time comparison: each pair runs the same tests once on a baseline route and
 * once on the route under test, back to back, so the machine's drift (other work on a shared host) falls
 * on both halves of a pair much more than on pairs far apart in time. The ratio of a pair cancels that
 * drift; the spread of the ratios says what this machine can resolve, and the verdict is read off a 95 %
 * confidence interval instead of off one total.
 */

import { seededRandom } from "@apisnoop/openapi/testing";

/** The fewest pairs either interval below is computed from. */
export const MIN_PAIRS = 6;

/** One pair: the same work on the baseline route and on the route under test, in seconds. */
export interface Pair {
  baseline: number;
  measured: number;
}

/** A point estimate of measured/baseline and its 95 % confidence interval. */
export interface RatioEstimate {
  ratio: number;
  low: number;
  high: number;
}

/** What the data say about a target ratio (e.g. 1.03 for "at most 3 % slower"). */
export type Verdict = "met" | "missed" | "cannot tell at this noise";

/**
 * The median of the pairs' ratios with a distribution-free 95 % interval: the order statistics the sign
 * test bounds (the median lies below the k-th smallest of n ratios with probability P(Binomial(n, ½) < k)),
 * so no assumption about how the noise is distributed. Needs 6 pairs or more (with fewer, even the smallest
 * and largest ratio bound the median with less than 95 % confidence).
 * @throws Error for fewer than 6 pairs.
 */
export function medianRatio(pairs: readonly Pair[]): RatioEstimate {
  const ratios = pairs.map((pair) => pair.measured / pair.baseline).sort((a, b) => a - b);
  const n = ratios.length;
  if (n < MIN_PAIRS)
    throw new Error(`a 95 % interval for the median needs ${MIN_PAIRS} pairs or more, not ${n}`);
  const k = signTestRank(n);
  const middle = n % 2 === 1 ? at(ratios, (n - 1) / 2) : (at(ratios, n / 2 - 1) + at(ratios, n / 2)) / 2;
  return { ratio: middle, low: at(ratios, k - 1), high: at(ratios, n - k) };
}

/**
 * The largest k with P(Binomial(n, ½) ≤ k − 1) ≤ 2.5 %: the k-th smallest and k-th largest of n values
 * bound their median with at least 95 % confidence.
 */
export function signTestRank(n: number): number {
  let k = 0;
  let cumulative = 0;
  // P(X = i) for X ~ Binomial(n, ½), accumulated while the tail stays within 2.5 %.
  let term = 0.5 ** n;
  for (let i = 0; i <= n; i++) {
    if (cumulative + term > 0.025) break;
    cumulative += term;
    k = i + 1;
    term = (term * (n - i)) / (i + 1);
  }
  return Math.max(1, k);
}

/**
 * The ratio of the totals (sum measured / sum baseline: what a whole run of every pair's work would show)
 * with a 95 % percentile-bootstrap interval over the pairs. Seeded, so the same pairs give the same figures.
 * Needs 6 pairs or more: a percentile bootstrap of a few values covers far less than it says (of 2 pairs
 * it resamples only 3 distinct totals), so a verdict read off it would be a guess.
 * @throws Error for fewer than 6 pairs.
 */
export function totalRatio(pairs: readonly Pair[], resamples = 10_000, seed = 1): RatioEstimate {
  if (pairs.length < MIN_PAIRS)
    throw new Error(`a bootstrap interval needs ${MIN_PAIRS} pairs or more, not ${pairs.length}`);
  const ratioOf = (sample: readonly Pair[]) =>
    sample.reduce((sum, pair) => sum + pair.measured, 0) /
    sample.reduce((sum, pair) => sum + pair.baseline, 0);
  const random = seededRandom(seed);
  const ratios: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let measured = 0;
    let baseline = 0;
    for (let i = 0; i < pairs.length; i++) {
      const pair = pairs[Math.floor(random() * pairs.length)] as Pair;
      measured += pair.measured;
      baseline += pair.baseline;
    }
    ratios.push(measured / baseline);
  }
  ratios.sort((a, b) => a - b);
  return {
    ratio: ratioOf(pairs),
    low: at(ratios, Math.floor(0.025 * (resamples - 1))),
    high: at(ratios, Math.ceil(0.975 * (resamples - 1))),
  };
}

/**
 * "met" when the whole interval is within the target, "missed" when the whole interval is beyond it,
 * otherwise the machine cannot tell at this noise.
 */
export function verdict(estimate: RatioEstimate, target: number): Verdict {
  if (estimate.high <= target) return "met";
  if (estimate.low > target) return "missed";
  return "cannot tell at this noise";
}

/** `+1.2 % (95 % CI −0.8 … +3.1 %)` */
export function formatRatio(estimate: RatioEstimate): string {
  const percent = (ratio: number) => {
    const value = (ratio - 1) * 100;
    return `${value < 0 ? "−" : "+"}${Math.abs(value).toFixed(1)} %`;
  };
  return `${percent(estimate.ratio)} (95 % CI ${percent(estimate.low)} … ${percent(estimate.high)})`;
}

function at(values: readonly number[], index: number): number {
  return values[index] as number;
}
