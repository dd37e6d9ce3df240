import { describe, expect, it } from "vitest";
import { formatRatio, medianRatio, type Pair, signTestRank, totalRatio, verdict } from "./paired-ratio";

/** Pairs whose ratios are exactly `ratios`, on baselines of different lengths. */
function pairsOf(ratios: readonly number[]): Pair[] {
  return ratios.map((ratio, i) => ({ baseline: 20 + i * 7, measured: (20 + i * 7) * ratio }));
}

describe("signTestRank", () => {
  it("gives the ranks of the sign test's tables", () => {
    // P(Bin(n, ½) ≤ k − 1) ≤ 2.5 %: n = 6 → 1 (1/64), 10 → 2, 20 → 6, 30 → 10.
    expect([6, 10, 20, 30].map(signTestRank)).toEqual([1, 2, 6, 10]);
  });
});

describe("medianRatio", () => {
  it("bounds the median of the ratios by order statistics", () => {
    const estimate = medianRatio(pairsOf([1.05, 0.97, 1.0, 1.02, 0.99, 1.01, 1.04, 0.98, 1.03, 1.0]));
    expect(estimate.ratio).toBeCloseTo(1.005, 10);
    // n = 10: the 2nd smallest and the 2nd largest.
    expect(estimate.low).toBeCloseTo(0.98, 10);
    expect(estimate.high).toBeCloseTo(1.04, 10);
  });

  it("is not moved by one pair that a burst of other work spoiled", () => {
    const calm = [1.01, 1.0, 1.02, 0.99, 1.01, 1.0, 1.02];
    expect(medianRatio(pairsOf([...calm, 1.6])).ratio).toBeCloseTo(1.01, 10);
  });

  it("refuses fewer than six pairs", () => {
    expect(() => medianRatio(pairsOf([1, 1, 1, 1, 1]))).toThrow(/needs 6 pairs or more, not 5/);
  });
});

describe("totalRatio", () => {
  it("is the ratio of the sums, inside a reproducible bootstrap interval", () => {
    const pairs = pairsOf([1.05, 0.97, 1.0, 1.02, 0.99, 1.01, 1.04, 0.98, 1.03, 1.0]);
    const estimate = totalRatio(pairs);
    const sum = (key: keyof Pair) => pairs.reduce((total, pair) => total + pair[key], 0);
    expect(estimate.ratio).toBeCloseTo(sum("measured") / sum("baseline"), 12);
    expect(estimate.low).toBeLessThan(estimate.ratio);
    expect(estimate.high).toBeGreaterThan(estimate.ratio);
    expect(estimate.low).toBeGreaterThanOrEqual(0.97);
    expect(estimate.high).toBeLessThanOrEqual(1.05);
    expect(totalRatio(pairs)).toEqual(estimate);
  });

  it("refuses fewer than six pairs", () => {
    expect(() => totalRatio(pairsOf([1.01, 1.0, 1.02, 1.0, 1.01]))).toThrow(/needs 6 pairs or more, not 5/);
  });

  it("narrows as pairs agree", () => {
    const noisy = totalRatio(pairsOf([1.2, 0.85, 1.1, 0.9, 1.15, 0.95, 1.05, 0.88]));
    const steady = totalRatio(pairsOf([1.01, 1.0, 1.02, 1.01, 1.0, 1.02, 1.01, 1.0]));
    expect(steady.high - steady.low).toBeLessThan((noisy.high - noisy.low) / 5);
  });
});

describe("verdict", () => {
  it("says met, missed or cannot tell from where the interval lies", () => {
    expect(verdict({ ratio: 1.01, low: 0.99, high: 1.029 }, 1.03)).toBe("met");
    expect(verdict({ ratio: 1.06, low: 1.031, high: 1.09 }, 1.03)).toBe("missed");
    expect(verdict({ ratio: 1.01, low: 0.95, high: 1.07 }, 1.03)).toBe("cannot tell at this noise");
  });

  it("follows the data of steady pairs both ways", () => {
    expect(verdict(medianRatio(pairsOf([1.0, 1.01, 1.0, 1.02, 1.01, 1.0, 1.01, 1.0])), 1.03)).toBe("met");
    expect(verdict(medianRatio(pairsOf([1.08, 1.1, 1.07, 1.09, 1.1, 1.08, 1.09, 1.07])), 1.03)).toBe(
      "missed",
    );
  });
});

describe("formatRatio", () => {
  it("prints percentages with their signs", () => {
    expect(formatRatio({ ratio: 1.012, low: 0.9921, high: 1.031 })).toBe("+1.2 % (95 % CI −0.8 % … +3.1 %)");
  });
});
