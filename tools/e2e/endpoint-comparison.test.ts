import { describe, expect, it } from "vitest";
import { compareTests, summarizeComparison } from "./endpoint-comparison";
import type { SpecResult } from "./ginkgo-report";

const spec = (name: string, state: SpecResult["state"] = "passed"): SpecResult => ({
  name,
  state,
  durationSeconds: 1,
});
const A = "[sig-api-machinery] server version should find the server version [Conformance]";
const S = "[sig-api-machinery] Namespaces [Serial] should patch a Namespace [Conformance]";

describe("compareTests", () => {
  it("splits each test's sets into matches, extras and misses, each difference classified", () => {
    const observed = new Map([
      [A, new Set(["createCoreV1Namespace", "getCodeVersion", "createCoreV1NamespacedPod"])],
      [S, new Set(["patchCoreV1Namespace"])],
    ]);
    const published = new Map([[A, new Set(["createCoreV1Namespace", "listCoreV1Node"])]]);
    const [a, s] = compareTests([spec(A), spec(S)], observed, published);
    expect(a).toMatchObject({
      published: true,
      matches: ["createCoreV1Namespace"],
      extras: [
        { endpoint: "createCoreV1NamespacedPod", explanation: null },
        { endpoint: "getCodeVersion", explanation: "gce-audit-policy-drops" },
      ],
      misses: [{ endpoint: "listCoreV1Node", explanation: null }],
    });
    expect(s).toMatchObject({
      published: false,
      matches: [],
      extras: [{ endpoint: "patchCoreV1Namespace", explanation: "serial-or-slow-not-in-source-job" }],
      misses: [],
    });
    expect(summarizeComparison([a, s] as never)).toEqual({
      tests: 2,
      passed: 2,
      identical: 0,
      matches: 1,
      extras: 3,
      misses: 1,
      unexplained: 2,
      byClass: { "gce-audit-policy-drops": 1, "serial-or-slow-not-in-source-job": 1 },
    });
  });

  it("counts a test with equal sets as identical", () => {
    const set = new Map([[A, new Set(["createCoreV1Namespace"])]]);
    const comparisons = compareTests([spec(A)], set, set);
    expect(summarizeComparison(comparisons)).toMatchObject({ identical: 1, matches: 1, unexplained: 0 });
  });
});
