import { sharedApisnoopCoverage } from "@apisnoop/openapi/testing";
import { describe, expect, it } from "vitest";
import {
  CONFORMANCE_TESTS,
  conformanceTestsOf,
  ginkgoFocus,
  LEFT_OUT_ON_NODE,
  NODE_TEST_SUBSET,
  nodeConformanceTests,
  RIG_TEST_SUBSET,
  SLOW_TESTS,
} from "./conformance-tests";
import { e2eBinaryAvailable, e2eBinaryPath } from "./e2e-binary";
import { prebuiltE2eBinary } from "./env";

describe("the selected conformance tests", () => {
  it("are distinct conformance tests, at least 20 of them also in the rig test", () => {
    expect(new Set(CONFORMANCE_TESTS).size).toBe(CONFORMANCE_TESTS.length);
    for (const name of CONFORMANCE_TESTS) expect(name).toMatch(/^\[sig-[a-z-]+\] .* \[Conformance\]$/);
    expect(RIG_TEST_SUBSET.length).toBeGreaterThanOrEqual(20);
    for (const name of SLOW_TESTS) expect(CONFORMANCE_TESTS).toContain(name);
    expect(RIG_TEST_SUBSET.length + SLOW_TESTS.length).toBe(CONFORMANCE_TESTS.length);
  });

  it("are conformance tests in apisnoop's 1.34.0 data, unless [Serial] (its source job skips those)", () => {
    const published = new Set(
      sharedApisnoopCoverage("1.34")
        .endpoints.flatMap((e) => e.tests)
        .filter(Boolean),
    );
    const absent = CONFORMANCE_TESTS.filter((name) => !published.has(name));
    expect(absent.length).toBeLessThan(CONFORMANCE_TESTS.length / 10);
    for (const name of absent) expect(name).toContain("[Serial]");
  });
});

describe.skipIf(!e2eBinaryAvailable())("the node selection, against e2e.test's own list", () => {
  const all = e2eBinaryAvailable() ? conformanceTestsOf(prebuiltE2eBinary() ?? e2eBinaryPath()) : [];

  it("lists v1.34.4's 424 conformance tests, the API-only selection among them", () => {
    expect(all).toHaveLength(424);
    expect(new Set(all).size).toBe(all.length);
    for (const name of CONFORMANCE_TESTS) expect(all).toContain(name);
  });

  it("leaves out only real tests, each with a reason, and keeps the CI subset", () => {
    for (const { test, reason } of LEFT_OUT_ON_NODE) {
      expect(all).toContain(test);
      expect(reason.length).toBeGreaterThan(20);
    }
    const selected = nodeConformanceTests(all);
    expect(selected).toHaveLength(all.length - LEFT_OUT_ON_NODE.length);
    for (const name of NODE_TEST_SUBSET) expect(selected).toContain(name);
  });
});

describe("ginkgoFocus", () => {
  it("matches each name literally, at the end of ginkgo's text", () => {
    const names = ["[sig-a] X (v1.2) should work [Conformance]", "[sig-b] Y|Z * [Conformance]"];
    const focus = new RegExp(ginkgoFocus(names));
    expect(focus.test(`Kubernetes e2e suite ${names[0]}`)).toBe(true);
    expect(focus.test(names[1] as string)).toBe(true);
    expect(focus.test("[sig-a] X (v1x2) should work [Conformance]")).toBe(false);
    expect(focus.test(`${names[0]} and more`)).toBe(false);
    expect(focus.test("[sig-b] Y")).toBe(false);
  });
});
