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
  /** The test's endpoints answered with a 2xx at least once through the proxy; null when not known. */
  succeeded?: ReadonlySet<string> | null;
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

/** A test and endpoints of one difference class's table. */
export interface TestEndpoints {
  test: string;
  endpoints: readonly string[];
}

const has = (table: readonly TestEndpoints[], test: string, endpoint: string) =>
  table.some((row) => row.test === test && row.endpoints.includes(endpoint));

/** What kube-controller-manager's metrics grabber asks of its pod: its log, its status, a port-forward. */
export const CONTROLLER_MANAGER_POD_CALLS: readonly string[] = [
  "readCoreV1NamespacedPodLog",
  "readCoreV1NamespacedPod",
  "connectCoreV1GetNamespacedPodPortforward",
];

/**
 * The conformance tests that gather kube-controller-manager's metrics after their work (garbage_collector.go's
 * gatherMetrics) and that apisnoop's data names (the other two such tests are [Serial]).
 */
export const GATHERS_CONTROLLER_MANAGER_METRICS: readonly string[] = [
  "[sig-api-machinery] Garbage collector should delete pods created by rc when not orphaning [Conformance]",
  "[sig-api-machinery] Garbage collector should delete RS created by deployment when not orphaning [Conformance]",
  "[sig-api-machinery] Garbage collector should orphan RS created by deployment when deleteOptions.PropagationPolicy is Orphan [Conformance]",
];

const SERVICES = "[sig-network] Services";
const PROXY = "[sig-network] Proxy version v1 should proxy through a service and a pod [Conformance]";

/**
 * Calls apisnoop's data credits a test with that the test's v1.34.4 source cannot issue: the source job
 * ran an earlier 1.34 build of the test (difference-classes.test.ts reads v1.34.4's source for each row).
 */
export const CALLS_NOT_IN_TEST_SOURCE: readonly TestEndpoints[] = [
  ...[
    "should serve a basic endpoint from pods",
    "should serve multiport endpoints from pods",
    "should serve endpoints on same port and different protocols",
  ].map((it) => ({
    test: `${SERVICES} ${it} [Conformance]`,
    endpoints: ["readCoreV1NamespacedEndpoints", "getDiscoveryV1APIResources"],
  })),
  { test: PROXY, endpoints: ["readCoreV1NamespacedEndpoints"] },
  {
    test: "[sig-network] ServiceCIDR and IPAddress API should support ServiceCIDR API operations [Conformance]",
    endpoints: ["patchNetworkingV1ServiceCIDR", "replaceNetworkingV1ServiceCIDR"],
  },
  {
    test: "[sig-node] Pods should delete a collection of pods [Conformance]",
    endpoints: ["createCoreV1NamespacedPodBinding"],
  },
];

/**
 * Calls a test's v1.34.4 source makes where apisnoop's data has the test make, instead, a call of
 * {@link CALLS_NOT_IN_TEST_SOURCE} (`replaces`): the same wait, written against another API.
 */
export const CALLS_REPLACING_SOURCE_BUILD_CALLS: readonly (TestEndpoints & { replaces: string })[] = [
  {
    test: PROXY,
    endpoints: ["listDiscoveryV1NamespacedEndpointSlice"],
    replaces: "readCoreV1NamespacedEndpoints",
  },
];

const DEPLOYMENT = (it: string) => `[sig-apps] Deployment ${it} [Conformance]`;
const REPLICA_SET = (it: string) => `[sig-apps] ReplicaSet ${it} [Conformance]`;
const WEBHOOK = (it: string) =>
  `[sig-api-machinery] AdmissionWebhook [Privileged:ClusterAdmin] ${it} [Conformance]`;

/**
 * Calls a test's source makes or skips depending on how fast the cluster is, so that either run may have
 * them: each row with the one function of the test's v1.34.4 source that can issue the call and the
 * condition there (difference-classes.test.ts checks both, and that the rows name every conformance test of
 * those files for which that holds):
 * - `readCoreV1NamespacedPod`: e2epod.VerifyPodsRunning lists the pods, then GETs only those not yet
 *   Running (WaitForPodRunningInNamespace returns at once for a Running pod);
 * - `deleteCoreV1NamespacedConfigMap`: waitWebhookConfigurationReady creates marker ConfigMaps until the
 *   webhook denies one, deleting each it was allowed to create: none when the first is denied (a miss is
 *   explained only when the run shows no ConfigMap create of the test succeeded);
 * - `listCoreV1NamespacedPod`: deployment.go's failureTrap (every test's AfterEach) lists pods only for a
 *   Deployment or ReplicaSet still in the namespace when the test ends.
 */
export const TIMING_DEPENDENT_CALLS: readonly (TestEndpoints & {
  side: EndpointDifference["side"] | "both";
  /** A miss only: an operation the run must never have answered with a 2xx for this test. */
  unlessSucceeded?: string;
})[] = [
  ...[
    ...[
      "RollingUpdateDeployment should delete old pods and create new ones",
      "deployment should delete old replica sets",
      "deployment should support rollover",
      "deployment should support proportional scaling",
    ].map(DEPLOYMENT),
    ...[
      "Replicaset should have a working scale subresource",
      "Replace and Patch tests",
      "should list and delete a collection of ReplicaSets",
      "should validate Replicaset Status endpoints",
    ].map(REPLICA_SET),
  ].map((test) => ({ test, endpoints: ["readCoreV1NamespacedPod"], side: "both" as const })),
  ...[
    "should be able to deny pod and configmap creation",
    "should be able to deny attaching pod",
    "should be able to deny custom resource creation, update and deletion",
    "should unconditionally reject operations on fail closed webhook",
    "should mutate configmap",
    "should mutate pod and apply defaults after mutation",
    "should not be able to mutate or prevent deletion of webhook configuration objects",
    "should mutate custom resource",
    "should deny crd creation",
    "should mutate custom resource with different stored version",
    "should mutate custom resource with pruning",
    "should mutate everything except 'skip-me' configmaps",
  ].map((it) => ({
    test: WEBHOOK(it),
    endpoints: ["deleteCoreV1NamespacedConfigMap"],
    side: "both" as const,
    unlessSucceeded: "createCoreV1NamespacedConfigMap",
  })),
  {
    test: DEPLOYMENT("should run the lifecycle of a Deployment"),
    endpoints: ["listCoreV1NamespacedPod"],
    side: "miss",
  },
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
  {
    id: "control-plane-not-in-pods",
    title: "kube-controller-manager's metrics: the source cluster ran it as a pod, the rig as a process",
    why:
      "The garbage collector tests gather kube-controller-manager's metrics at their end (garbage_collector.go " +
      "gatherMetrics, e2emetrics.NewMetricsGrabber). The grabber looks for a kube-system pod named " +
      "kube-controller-manager-*: on the source job's GCE cluster the control plane runs as static pods, so it " +
      "reads that pod's log, waits for it Ready and port-forwards to it; the rig runs kube-controller-manager as " +
      "a process, so there is no such pod and the grabber makes none of these 3 calls, which apisnoop's data " +
      "also credits to the MetricsGrabber test of kube-controller-manager. Only these calls of these tests.",
    side: "miss",
    explains: (d) =>
      GATHERS_CONTROLLER_MANAGER_METRICS.includes(d.test) &&
      CONTROLLER_MANAGER_POD_CALLS.includes(d.endpoint),
  },
  {
    id: "call-not-in-test-source",
    title: "a call the test's v1.34.4 source cannot make: the source job ran an earlier build",
    why:
      "apisnoop's 1.34.0 data comes from a ci-kubernetes-e2e-gci-gce run of July 2025, an earlier 1.34 build of " +
      "the tests than v1.34.4: since then the Services and Proxy tests wait on EndpointSlices instead of " +
      "Endpoints (and no longer ask discovery for discovery.k8s.io/v1), the ServiceCIDR test no longer patches " +
      "or replaces the default ServiceCIDR, and the collection-of-pods test no longer binds its pods. Each row " +
      "of the table is checked against v1.34.4's source: no function the test reaches can make the call, so " +
      "the proxy cannot have missed it.",
    side: "miss",
    explains: (d) => has(CALLS_NOT_IN_TEST_SOURCE, d.test, d.endpoint),
  },
  {
    id: "call-replacing-source-build-call",
    title: "v1.34.4's test makes this call where the source job's build made one it no longer can",
    why:
      "The Proxy test of v1.34.4 waits for its Service's EndpointSlices (e2eendpointslice) where the source " +
      "job's build read its Endpoints: the extra list of EndpointSlices stands for the missing Endpoints read, " +
      "which call-not-in-test-source explains. Only when the test misses that very call in this run.",
    side: "extra",
    explains: (d, c) =>
      CALLS_REPLACING_SOURCE_BUILD_CALLS.some(
        (row) =>
          row.test === d.test &&
          row.endpoints.includes(d.endpoint) &&
          c.published?.has(row.replaces) === true &&
          !c.observed.has(row.replaces),
      ),
  },
  {
    id: "timing-dependent-call",
    title: "a call the test's source makes or skips depending on how fast the cluster is",
    why:
      "Some waits of the tests issue a call only while the cluster is not there yet, so either run may have " +
      "it and the other not: a GET of a listed pod " +
      "that is not Running yet (e2epod.VerifyPodsRunning), the deletion of a marker ConfigMap the admission " +
      "webhook was not yet denying (waitWebhookConfigurationReady; the rule also checks that no ConfigMap " +
      "create of the test succeeded through the proxy), a pod list for a ReplicaSet the garbage collector had " +
      "not yet removed when the test ended (deployment.go failureTrap). The source job's cluster and the rig " +
      "differ in speed, so one side has the call and the other not. Each row names the only function of " +
      "v1.34.4's source that can issue the call, checked against the source.",
    side: "both",
    explains: (d, c) =>
      TIMING_DEPENDENT_CALLS.some(
        (row) =>
          row.test === d.test &&
          (row.side === "both" || row.side === d.side) &&
          row.endpoints.includes(d.endpoint) &&
          (d.side === "extra" ||
            row.unlessSucceeded === undefined ||
            (c.succeeded != null && !c.succeeded.has(row.unlessSucceeded))),
      ),
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
