import { describe, expect, it } from "vitest";
import type { SpecResult } from "./ginkgo-report";
import { formatSpecDifference, largestSpecDifferences } from "./spec-differences";

const spec = (name: string, durationSeconds: number): SpecResult => ({
  name,
  state: "passed",
  durationSeconds,
});

describe("largestSpecDifferences", () => {
  it("ranks the tests by how much their durations differ, either way", () => {
    const direct = [spec("a", 10), spec("b", 5), spec("c", 80), spec("d", 3)];
    const proxied = [spec("a", 11), spec("b", 75), spec("c", 20), spec("d", 3)];
    expect(largestSpecDifferences(direct, proxied, 2).map((difference) => difference.name)).toEqual([
      "b",
      "c",
    ]);
  });

  it("leaves out a test that ran on one side only", () => {
    const differences = largestSpecDifferences([spec("a", 1)], [spec("a", 2), spec("new", 90)], 5);
    expect(differences).toEqual([{ name: "a", baseline: 1, measured: 2 }]);
  });
});

describe("formatSpecDifference", () => {
  it("signs the difference as measured minus baseline", () => {
    expect(formatSpecDifference({ name: "t", baseline: 12.1, measured: 82.4 })).toBe(
      "+70.3 s t (12.1 → 82.4 s)",
    );
    expect(formatSpecDifference({ name: "t", baseline: 80, measured: 20 })).toBe("−60.0 s t (80.0 → 20.0 s)");
  });
});
