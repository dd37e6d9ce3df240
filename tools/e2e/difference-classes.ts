/**
 * Why a test's endpoint set through the proxy can differ from apisnoop's published one: a small table of
 * known difference classes, each a rule over (test, endpoint, side) with its justification. A difference
 * no rule covers stays unexplained, and the rig test fails on it.
 */

/** An endpoint in one set and not the other: `extra` = seen through the proxy only, `miss` = apisnoop only. */
export interface EndpointDifference {
  test: string;
  endpoint: string;
  side: "extra" | "miss";
}

/** What a rule may look at besides the difference itself. */
export interface DifferenceContext {
  /** The test's endpoints through the proxy. */
  observed: ReadonlySet<string>;
  /** apisnoop's endpoints for the test; null when its data does not name the test. */
  published: ReadonlySet<string> | null;
  state: string;
}

export interface DifferenceClass {
  id: string;
  /** One line: what differs. */
  title: string;
  /** Why, with the evidence (source file, flag, data). */
  why: string;
  side: EndpointDifference["side"] | "both";
  explains(difference: EndpointDifference, context: DifferenceContext): boolean;
}

/** Core-group Event operations (`/api/v1/.../events`), as the 1.34 spec names them. */
const CORE_EVENT_OPERATION = /^[a-z]+CoreV1(Collection)?(Namespaced)?Event(ForAllNamespaces)?$/;

/**
 * API group endpoints (`GET /apis/<group>`) of groups the rig serves and the source job's cluster did not:
 * no test in apisnoop's 1.34.0 data hits them (difference-classes.test.ts checks that against the data).
 */
export const GROUPS_NOT_SERVED_BY_SOURCE_CLUSTER: readonly string[] = [
  "getInternalApiserverAPIGroup",
  "getResourceAPIGroup",
  "getStoragemigrationAPIGroup",
];

/** The classes, most specific first; the first whose rule holds explains a difference. */
export const DIFFERENCE_CLASSES: readonly DifferenceClass[] = [
  {
    id: "failure-diagnostics",
    title: "the test did not pass: the framework's failure dump, or calls it never reached",
    why:
      "On failure the e2e framework dumps the namespace (framework.go dumpNamespaceInfo: events, pods) and the " +
      "test stops at the failing step, so extras are diagnostics and misses are steps not reached. Only a " +
      "test that did not pass can have this class; the rig test fails on such a test anyway.",
    side: "both",
    explains: (_d, c) => c.state !== "passed",
  },
  {
    id: "serial-or-slow-not-in-source-job",
    title: "the test is [Serial] or [Slow]; apisnoop's data has no such test",
    why:
      "apisnoop's 1.34.0 coverage comes from one run of ci-kubernetes-e2e-gci-gce (its `sources`), a parallel job " +
      "that skips [Serial] and [Slow] tests: none of the 1,142 tests its data names is [Serial] or [Slow]. So " +
      "everything such a test does through the proxy is an extra.",
    side: "extra",
    explains: (d, c) => c.published === null && (d.test.includes("[Serial]") || d.test.includes("[Slow]")),
  },
  {
    id: "test-not-in-source-data",
    title: "apisnoop's data names no such test",
    why:
      "A conformance test of v1.34.4 that apisnoop's 1.34.0 data does not name at all (its source job's run did " +
      "not record it: OrderedNamespaceDeletion, the two kubectl proxy tests, the two multi-EndpointSlice tests and " +
      "API chunking's compaction test in the node run), so there is no published set to compare with and " +
      "everything the test does through the proxy is an extra. Only a test absent from the data gets this class.",
    side: "extra",
    explains: (_d, c) => c.published === null,
  },
  {
    id: "gce-audit-policy-drops",
    title: "/version and core events are not in the source job's audit log",
    why:
      "apisnoop reads the kube-apiserver audit log of that job, whose policy (kubernetes " +
      "cluster/gce/gci/configure-helper.sh, create-master-audit-policy) logs `/version` and core-group `events` " +
      "at level None: apisnoop's 1.34.0 data credits no test with getCodeVersion or any of the 8 core Event " +
      "endpoints. The proxy sees every request, so these are extras.",
    side: "extra",
    explains: (d) => d.endpoint === "getCodeVersion" || CORE_EVENT_OPERATION.test(d.endpoint),
  },
  {
    id: "group-not-served-by-source-cluster",
    title: "discovery of an API group the rig serves and the source job's cluster did not",
    why:
      "The rig serves every group/version (--runtime-config=api/all=true, all alpha and beta gates: how the " +
      "published spec is generated), so tests that walk every served group (Discovery: PreferredVersion) also " +
      "GET /apis/internal.apiserver.k8s.io, /apis/resource.k8s.io and /apis/storagemigration.k8s.io. The " +
      "source job's cluster served them not (alpha/beta-only there): no test in apisnoop's 1.34.0 data hits " +
      "these three group endpoints, while the same walk hits every other group's.",
    side: "extra",
    explains: (d) => GROUPS_NOT_SERVED_BY_SOURCE_CLUSTER.includes(d.endpoint),
  },
];

/** The first class of `classes` that explains `difference`, or null. */
export function explainDifference(
  difference: EndpointDifference,
  context: DifferenceContext,
  classes: readonly DifferenceClass[] = DIFFERENCE_CLASSES,
): DifferenceClass | null {
  return (
    classes.find(
      (c) => (c.side === "both" || c.side === difference.side) && c.explains(difference, context),
    ) ?? null
  );
}
