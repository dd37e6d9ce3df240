import { type ApisnoopEndpoint, sharedApisnoopCoverage, sharedCatalog } from "@apisnoop/openapi/testing";
import { describe, expect, it } from "vitest";
import {
  DIFFERENCE_CLASSES,
  type DifferenceContext,
  explainDifference,
  GROUPS_NOT_SERVED_BY_SOURCE_CLUSTER,
} from "./difference-classes";

const coverage = sharedApisnoopCoverage("1.34");
const testsOf = (endpoint: ApisnoopEndpoint) => endpoint.tests.filter(Boolean);
const byId = new Map(coverage.endpoints.map((e) => [e.endpoint, e]));
const passed: DifferenceContext = { observed: new Set(), published: new Set(), state: "passed" };
const explain = (endpoint: string, side: "extra" | "miss", test = "[sig-x] t [Conformance]", c = passed) =>
  explainDifference({ test, endpoint, side }, c)?.id ?? null;

describe("the premises of the difference classes hold in apisnoop's 1.34.0 data", () => {
  it("names no [Serial] or [Slow] test (the source job skips them)", () => {
    const names = new Set(coverage.endpoints.flatMap(testsOf));
    expect(names.size).toBeGreaterThan(1000);
    expect([...names].filter((n) => n.includes("[Serial]") || n.includes("[Slow]"))).toEqual([]);
  });

  it("credits no test with /version or any core Event endpoint (the source job's audit policy drops them)", () => {
    const coreEvents = sharedCatalog("1.34").endpoints.filter((e) => e.kind === "Event" && e.group === "");
    expect(coreEvents).toHaveLength(8);
    for (const e of coreEvents) {
      expect(testsOf(byId.get(e.operationId) as ApisnoopEndpoint), e.operationId).toEqual([]);
      expect(explain(e.operationId, "extra")).toBe("gce-audit-policy-drops");
    }
    expect(testsOf(byId.get("getCodeVersion") as ApisnoopEndpoint)).toEqual([]);
  });

  it("credits no test with exactly the group endpoints the source cluster did not serve", () => {
    const groups = coverage.endpoints.filter((e) => /^get[A-Za-z]+APIGroup$/.test(e.endpoint));
    const untested = groups.filter((e) => testsOf(e).length === 0).map((e) => e.endpoint);
    expect(untested.sort()).toEqual([...GROUPS_NOT_SERVED_BY_SOURCE_CLUSTER].sort());
  });
});

describe("explainDifference", () => {
  it("applies a class only to its side", () => {
    expect(explain("getCodeVersion", "extra")).toBe("gce-audit-policy-drops");
    expect(explain("getCodeVersion", "miss")).toBeNull();
  });

  it("explains a [Serial] or [Slow] test's extras only when apisnoop's data does not name the test", () => {
    const serial = "[sig-api-machinery] Namespaces [Serial] should patch a Namespace [Conformance]";
    const slow = "[sig-apps] CronJob should not schedule jobs when suspended [Slow] [Conformance]";
    const unnamed = { ...passed, published: null };
    expect(explain("patchCoreV1Namespace", "extra", serial, unnamed)).toBe(
      "serial-or-slow-not-in-source-job",
    );
    expect(explain("createBatchV1NamespacedCronJob", "extra", slow, unnamed)).toBe(
      "serial-or-slow-not-in-source-job",
    );
    expect(explain("patchCoreV1Namespace", "extra", serial, passed)).toBeNull();
  });

  it("explains the extras of any other test apisnoop's data does not name, and never its misses", () => {
    const unnamed = { ...passed, published: null };
    expect(explain("createCoreV1NamespacedPod", "extra", undefined, unnamed)).toBe("test-not-in-source-data");
    expect(explain("createCoreV1NamespacedPod", "extra", undefined, passed)).toBeNull();
  });

  it("puts every difference of a test that did not pass down to the failure", () => {
    const failed = { ...passed, state: "failed" };
    expect(explain("listCoreV1NamespacedPod", "extra", undefined, failed)).toBe("failure-diagnostics");
    expect(explain("createStorageV1VolumeAttachment", "miss", undefined, failed)).toBe("failure-diagnostics");
  });

  it("leaves anything else unexplained", () => {
    expect(explain("createCoreV1NamespacedPod", "extra")).toBeNull();
    expect(explain("listCoreV1Node", "miss")).toBeNull();
  });

  it("has unique class ids, each with a justification", () => {
    expect(new Set(DIFFERENCE_CLASSES.map((c) => c.id)).size).toBe(DIFFERENCE_CLASSES.length);
    for (const c of DIFFERENCE_CLASSES) expect(c.why.length, c.id).toBeGreaterThan(100);
  });
});
