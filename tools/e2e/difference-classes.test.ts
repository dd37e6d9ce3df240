import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type ApisnoopEndpoint, sharedApisnoopCoverage, sharedCatalog } from "@apisnoop/openapi/testing";
import { describe, expect, it } from "vitest";
import {
  CALLS_NOT_IN_TEST_SOURCE,
  CALLS_REPLACING_SOURCE_BUILD_CALLS,
  CONTROLLER_MANAGER_POD_CALLS,
  DIFFERENCE_CLASSES,
  type DifferenceContext,
  explainDifference,
  GATHERS_CONTROLLER_MANAGER_METRICS,
  GROUPS_NOT_SERVED_BY_SOURCE_CLUSTER,
  type TestEndpoints,
  TIMING_DEPENDENT_CALLS,
} from "./difference-classes";
import { e2eRequired } from "./env";
import {
  kubernetesSourceAvailable,
  kubernetesSourceDir,
  partsIssuing,
  type SourceCall,
  stripGoComments,
  testSource,
} from "./upstream-source";

const has = (table: readonly TestEndpoints[], test: string, endpoint: string) =>
  table.some((row) => row.test === test && row.endpoints.includes(endpoint));

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

describe("the tables of the run-specific classes agree with apisnoop's 1.34.0 data", () => {
  const published = (test: string) =>
    new Set(coverage.endpoints.filter((e) => e.tests.includes(test)).map((e) => e.endpoint));

  it("credits each test with every call a table explains as its miss, and never with an extra", () => {
    const misses = [
      ...CALLS_NOT_IN_TEST_SOURCE,
      ...TIMING_DEPENDENT_CALLS.filter((row) => row.side === "miss"),
      // (Rows for both sides are not checked here: either run may have the call.)
      ...GATHERS_CONTROLLER_MANAGER_METRICS.map((test) => ({
        test,
        endpoints: CONTROLLER_MANAGER_POD_CALLS,
      })),
    ];
    for (const { test, endpoints } of misses) {
      for (const endpoint of endpoints)
        expect(published(test).has(endpoint), `${test}: ${endpoint}`).toBe(true);
    }
    const extras = [...CALLS_REPLACING_SOURCE_BUILD_CALLS];
    for (const { test, endpoints } of extras) {
      expect(published(test).size, test).toBeGreaterThan(0);
      for (const endpoint of endpoints)
        expect(published(test).has(endpoint), `${test}: ${endpoint}`).toBe(false);
    }
  });

  it("credits the controller manager's pod calls to the MetricsGrabber test of kube-controller-manager too", () => {
    const grabber = "[sig-instrumentation] MetricsGrabber should grab all metrics from a ControllerManager.";
    for (const endpoint of ["readCoreV1NamespacedPodLog", "connectCoreV1GetNamespacedPodPortforward"]) {
      expect(published(grabber).has(endpoint), endpoint).toBe(true);
    }
  });

  it("comes from a build of the tests older than v1.34.0's release (2025-08-27)", () => {
    // A prow build id is a snowflake: its high bits count milliseconds from 2010-11-04T01:42:54.657Z.
    const [source = ""] = (coverage as unknown as { sources: string[] }).sources;
    const id = BigInt(source.split("/").pop() as string);
    const started = new Date(Number((id >> 22n) + 1288834974657n));
    expect(started.toISOString().slice(0, 10)).toBe("2025-07-02");
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

  it("explains the run-specific classes only for their tests, endpoints, sides and run facts", () => {
    const gc = GATHERS_CONTROLLER_MANAGER_METRICS[0] as string;
    expect(explain("readCoreV1NamespacedPodLog", "miss", gc)).toBe("control-plane-not-in-pods");
    expect(explain("readCoreV1NamespacedPodLog", "extra", gc)).toBeNull();
    expect(explain("listCoreV1NamespacedPod", "miss", gc)).toBeNull();
    expect(explain("readCoreV1NamespacedPodLog", "miss")).toBeNull();

    const cidr =
      "[sig-network] ServiceCIDR and IPAddress API should support ServiceCIDR API operations [Conformance]";
    expect(explain("patchNetworkingV1ServiceCIDR", "miss", cidr)).toBe("call-not-in-test-source");
    expect(explain("patchNetworkingV1IPAddress", "miss", cidr)).toBeNull();

    const proxy = "[sig-network] Proxy version v1 should proxy through a service and a pod [Conformance]";
    const replaced = { ...passed, published: new Set(["readCoreV1NamespacedEndpoints"]) };
    expect(explain("listDiscoveryV1NamespacedEndpointSlice", "extra", proxy, replaced)).toBe(
      "call-replacing-source-build-call",
    );
    const alsoRead = { ...replaced, observed: new Set(["readCoreV1NamespacedEndpoints"]) };
    expect(explain("listDiscoveryV1NamespacedEndpointSlice", "extra", proxy, alsoRead)).toBeNull();
    expect(explain("listDiscoveryV1NamespacedEndpointSlice", "extra", proxy, passed)).toBeNull();

    const webhook =
      "[sig-api-machinery] AdmissionWebhook [Privileged:ClusterAdmin] should deny crd creation [Conformance]";
    const denied = { ...passed, succeeded: new Set(["listCoreV1NamespacedConfigMap"]) };
    expect(explain("deleteCoreV1NamespacedConfigMap", "miss", webhook, denied)).toBe("timing-dependent-call");
    // A marker ConfigMap was created: its deletion must then be there, its miss stays unexplained.
    const created = { ...passed, succeeded: new Set(["createCoreV1NamespacedConfigMap"]) };
    expect(explain("deleteCoreV1NamespacedConfigMap", "miss", webhook, created)).toBeNull();
    expect(
      explain("deleteCoreV1NamespacedConfigMap", "miss", webhook, { ...passed, succeeded: null }),
    ).toBeNull();

    const rollover = "[sig-apps] Deployment deployment should support rollover [Conformance]";
    expect(explain("readCoreV1NamespacedPod", "extra", rollover)).toBe("timing-dependent-call");
    expect(explain("readCoreV1NamespacedPod", "miss", rollover)).toBe("timing-dependent-call");
    const recreate =
      "[sig-apps] Deployment RecreateDeployment should delete old pods and create new ones [Conformance]";
    expect(explain("readCoreV1NamespacedPod", "extra", recreate)).toBeNull();
    // A marker deletion through the proxy needs no run fact: the call was made.
    expect(explain("deleteCoreV1NamespacedConfigMap", "extra", webhook, created)).toBe(
      "timing-dependent-call",
    );
    const lifecycle = "[sig-apps] Deployment should run the lifecycle of a Deployment [Conformance]";
    expect(explain("listCoreV1NamespacedPod", "miss", lifecycle)).toBe("timing-dependent-call");
    expect(explain("listCoreV1NamespacedPod", "extra", lifecycle)).toBeNull();
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

/** Where each test of the source-based classes is, in k8s.io/kubernetes: its file and `It` text. */
const TEST_SOURCES: Record<string, { file: string; it: string }> = {};
for (const [file, tests] of Object.entries({
  "test/e2e/network/service.go": [
    "[sig-network] Services should serve a basic endpoint from pods [Conformance]",
    "[sig-network] Services should serve multiport endpoints from pods [Conformance]",
    "[sig-network] Services should serve endpoints on same port and different protocols [Conformance]",
    "[sig-network] Services should test the lifecycle of an Endpoint [Conformance]",
  ],
  "test/e2e/network/proxy.go": [
    "[sig-network] Proxy version v1 should proxy through a service and a pod [Conformance]",
  ],
  "test/e2e/network/service_cidrs.go": [
    "[sig-network] ServiceCIDR and IPAddress API should support ServiceCIDR API operations [Conformance]",
  ],
  "test/e2e/common/node/pods.go": ["[sig-node] Pods should delete a collection of pods [Conformance]"],
  "test/e2e/node/pod_admission.go": [
    "[sig-node] PodRejectionStatus Kubelet should reject pod when the node didn't have enough resource",
  ],
  "test/e2e/apimachinery/discovery.go": [
    "[sig-api-machinery] Discovery should locate the groupVersion and a resource within each APIGroup [Conformance]",
  ],
  "test/e2e/apimachinery/garbage_collector.go": GATHERS_CONTROLLER_MANAGER_METRICS,
  "test/e2e/apimachinery/webhook.go": TIMING_DEPENDENT_CALLS.filter((r) =>
    r.test.includes("AdmissionWebhook"),
  ).map((r) => r.test),
  "test/e2e/apps/deployment.go": TIMING_DEPENDENT_CALLS.filter((r) =>
    r.test.startsWith("[sig-apps] Deployment"),
  ).map((r) => r.test),
  "test/e2e/apps/replica_set.go": TIMING_DEPENDENT_CALLS.filter((r) =>
    r.test.startsWith("[sig-apps] ReplicaSet"),
  ).map((r) => r.test),
})) {
  for (const test of tests) {
    // The It text is what follows the SIG's Describe texts: found by trying the name's tails.
    const words = test.replace(/ \[Conformance\]$/, "").split(" ");
    const source = readFileSync(join(kubernetesSourceDir(), file), "utf8");
    const tail = words
      .map((_, i) => words.slice(i).join(" "))
      .find((it) => source.includes(`It(${JSON.stringify(it)}`));
    TEST_SOURCES[test] = { file, it: tail ?? "(no It in the file)" };
  }
}

const POD_CLIENT = /\.Pods\(|NewPodClient\(|PodClientNS\(|"pods"/;
/** How v1.34.4's tests would make each call (typed, dynamic or REST client): see SourceCall. */
const CALLS: Record<string, SourceCall[]> = {
  readCoreV1NamespacedEndpoints: [
    { accessor: /\.Endpoints\(|"endpoints"/, clientType: "EndpointsInterface", verbs: ["Get"] },
  ],
  getDiscoveryV1APIResources: [
    {
      accessor: /Discovery\(\)|NewDiscoveryClient|"discovery\.k8s\.io(\/v1)?"|AbsPath\(/,
      verbs: [
        "ServerResourcesForGroupVersion",
        "ServerGroupsAndResources",
        "ServerPreferredResources",
        "ServerPreferredNamespacedResources",
        "Do",
        "DoRaw",
        "Raw",
        "Stream",
      ],
    },
  ],
  patchNetworkingV1ServiceCIDR: [
    {
      accessor: /\.ServiceCIDRs\(|"servicecidrs"/,
      clientType: "ServiceCIDRInterface",
      verbs: ["Patch", "Apply"],
    },
  ],
  replaceNetworkingV1ServiceCIDR: [
    { accessor: /\.ServiceCIDRs\(|"servicecidrs"/, clientType: "ServiceCIDRInterface", verbs: ["Update"] },
  ],
  listNetworkingV1ServiceCIDR: [
    {
      accessor: /\.ServiceCIDRs\(|"servicecidrs"/,
      clientType: "ServiceCIDRInterface",
      verbs: ["List", "Watch"],
    },
  ],
  createCoreV1NamespacedPodBinding: [
    { accessor: POD_CLIENT, clientType: "PodInterface", verbs: ["Bind"] },
    { accessor: /"binding"|"bindings"|\.Bindings\(/, verbs: ["Do", "DoRaw", "Create"] },
  ],
  readCoreV1NamespacedPod: [{ accessor: POD_CLIENT, clientType: "PodInterface", verbs: ["Get"] }],
  readCoreV1NamespacedPodLog: [{ accessor: POD_CLIENT, clientType: "PodInterface", verbs: ["GetLogs"] }],
  connectCoreV1GetNamespacedPodPortforward: [
    { accessor: /portforward|PortForward|NewDialer\(/, verbs: ["Dial", "DialContainerPort", "ForwardPorts"] },
  ],
  listCoreV1NamespacedPod: [{ accessor: POD_CLIENT, clientType: "PodInterface", verbs: ["List", "Watch"] }],
  deleteCoreV1NamespacedConfigMap: [
    { accessor: /\.ConfigMaps\(|"configmaps"/, clientType: "ConfigMapInterface", verbs: ["Delete"] },
  ],
  listDiscoveryV1NamespacedEndpointSlice: [
    {
      accessor: /\.EndpointSlices\(|"endpointslices"/,
      clientType: "EndpointSliceInterface",
      verbs: ["List", "Watch"],
    },
  ],
};

/** The functions of `test`'s v1.34.4 source that may make `endpoint`'s call, `stop` functions not read. */
function issuing(test: string, endpoint: string, stop: string[] = []): string[] {
  const where = TEST_SOURCES[test];
  const calls = CALLS[endpoint];
  if (!where || !calls) throw new Error(`no source location for ${test} or no call pattern for ${endpoint}`);
  const source = testSource(where.file, where.it, { stop });
  return [...new Set(calls.flatMap((call) => partsIssuing(source, call)))].sort();
}

/** The body of one function of the module's source, comments removed, by its id (`test/e2e/apps:failureTrap`). */
function functionBody(id: string): string {
  const [dir = "", name = ""] = id.split(":");
  const head = new RegExp(`^func (\\([^)]*\\) )?${name}\\(`, "m");
  for (const file of readdirSync(join(kubernetesSourceDir(), dir))) {
    if (!file.endsWith(".go") || file.endsWith("_test.go")) continue;
    const text = stripGoComments(readFileSync(join(kubernetesSourceDir(), dir, file), "utf8"));
    const start = head.exec(text)?.index;
    if (start !== undefined) return text.slice(start, text.indexOf("\n}\n", start) + 2);
  }
  throw new Error(`no function ${id}`);
}

const sourceAvailable = kubernetesSourceAvailable();
if (!sourceAvailable && e2eRequired()) {
  throw new Error(
    "E2E_REQUIRED=1 but k8s.io/kubernetes' source is not in Go's module cache: `npm run e2e:build`",
  );
}
if (!sourceAvailable)
  console.warn("difference-classes: the e2e tests' source premises skipped (`npm run e2e:build`)");

describe.skipIf(!sourceAvailable)("the premises of the source-based classes hold in v1.34.4's tests", () => {
  it("finds every test of the tables in its file", () => {
    for (const [test, where] of Object.entries(TEST_SOURCES)) expect(where.it, test).not.toContain("(no It");
  });

  it("finds the calls where v1.34.4's tests make them (the reading can fail)", () => {
    const lifecycle = "[sig-network] Services should test the lifecycle of an Endpoint [Conformance]";
    expect(issuing(lifecycle, "readCoreV1NamespacedEndpoints")).toEqual(["It"]);
    const cidr =
      "[sig-network] ServiceCIDR and IPAddress API should support ServiceCIDR API operations [Conformance]";
    expect(issuing(cidr, "listNetworkingV1ServiceCIDR")).toEqual(["It"]);
    const reject =
      "[sig-node] PodRejectionStatus Kubelet should reject pod when the node didn't have enough resource";
    expect(issuing(reject, "createCoreV1NamespacedPodBinding")).toEqual(["It"]);
    const discovery =
      "[sig-api-machinery] Discovery should locate the groupVersion and a resource within each APIGroup [Conformance]";
    expect(issuing(discovery, "getDiscoveryV1APIResources")).toEqual(["It"]);
    const proxy = "[sig-network] Proxy version v1 should proxy through a service and a pod [Conformance]";
    expect(issuing(proxy, "listDiscoveryV1NamespacedEndpointSlice")).toContain(
      "test/e2e/framework/endpointslice:WaitForEndpointSlices",
    );
  });

  it("call-not-in-test-source: no function a test reaches can make the call apisnoop credits it with", () => {
    for (const { test, endpoints } of CALLS_NOT_IN_TEST_SOURCE) {
      for (const endpoint of endpoints) expect(issuing(test, endpoint), `${test}: ${endpoint}`).toEqual([]);
    }
  });

  it("call-replacing-source-build-call: v1.34.4's test makes the call that stands for the missing one", () => {
    for (const { test, endpoints, replaces } of CALLS_REPLACING_SOURCE_BUILD_CALLS) {
      expect(has(CALLS_NOT_IN_TEST_SOURCE, test, replaces), test).toBe(true);
      for (const endpoint of endpoints)
        expect(issuing(test, endpoint), `${test}: ${endpoint}`).not.toEqual([]);
    }
  });

  it("timing-dependent-call: only a function that waits on the cluster can make the call, and only while it waits", () => {
    const guards: Record<string, { stop: string; condition: RegExp }> = {
      // Returns before its GET when the pod it was given (from a list) already runs.
      readCoreV1NamespacedPod: {
        stop: "test/e2e/framework/pod:WaitForPodRunningInNamespace",
        condition:
          /if pod\.Status\.Phase == v1\.PodRunning \{\s*return nil\s*\}\s*return WaitTimeoutForPodRunningInNamespace/,
      },
      // Deletes a marker only after creating it succeeded: a first create the webhook denies ends the wait.
      deleteCoreV1NamespacedConfigMap: {
        stop: "test/e2e/apimachinery:waitWebhookConfigurationReady",
        condition:
          /_, err := cmClient\.Create\(ctx, marker[^\n]*\n\s*if err != nil \{[^}]*return true, nil[\s\S]*?return false, err\s*\}\s*_ = cmClient\.Delete\(/,
      },
      // Lists pods only for a Deployment, or with none a ReplicaSet, left in the namespace.
      listCoreV1NamespacedPod: {
        stop: "test/e2e/apps:failureTrap",
        condition:
          /for i := range deployments\.Items \{[\s\S]*LogPodsOfDeployment[\s\S]*for _, rs := range rss\.Items \{[\s\S]*Pods\(rs\.Namespace\)\.List/,
      },
    };
    for (const { test, endpoints } of TIMING_DEPENDENT_CALLS) {
      for (const endpoint of endpoints) {
        const guard = guards[endpoint];
        expect(guard, endpoint).toBeDefined();
        if (!guard) continue;
        expect(issuing(test, endpoint), `${test}: ${endpoint}`).not.toEqual([]);
        expect(issuing(test, endpoint, [guard.stop]), `${test}: ${endpoint} without ${guard.stop}`).toEqual(
          [],
        );
        expect(functionBody(guard.stop)).toMatch(guard.condition);
      }
    }
  });

  it("timing-dependent-call: its rows name every conformance test of those files whose call only the wait makes", () => {
    const files: [string, string, string, string][] = [
      [
        "test/e2e/apps/deployment.go",
        "[sig-apps] Deployment",
        "readCoreV1NamespacedPod",
        "test/e2e/framework/pod:WaitForPodRunningInNamespace",
      ],
      [
        "test/e2e/apps/replica_set.go",
        "[sig-apps] ReplicaSet",
        "readCoreV1NamespacedPod",
        "test/e2e/framework/pod:WaitForPodRunningInNamespace",
      ],
      [
        "test/e2e/apimachinery/webhook.go",
        "[sig-api-machinery] AdmissionWebhook [Privileged:ClusterAdmin]",
        "deleteCoreV1NamespacedConfigMap",
        "test/e2e/apimachinery:waitWebhookConfigurationReady",
      ],
    ];
    for (const [file, describe, endpoint, stop] of files) {
      const source = readFileSync(join(kubernetesSourceDir(), file), "utf8");
      const guarded = [...source.matchAll(/framework\.ConformanceIt\("([^"]+)"/g)]
        .map((m) => m[1] as string)
        .filter((it) => {
          const calls = CALLS[endpoint] as SourceCall[];
          const all = calls.flatMap((call) => partsIssuing(testSource(file, it), call));
          const without = calls.flatMap((call) => partsIssuing(testSource(file, it, { stop: [stop] }), call));
          return all.length > 0 && without.length === 0;
        })
        .map((it) => `${describe} ${it} [Conformance]`);
      const rows = TIMING_DEPENDENT_CALLS.filter(
        (row) =>
          row.side === "both" && row.endpoints.includes(endpoint) && row.test.startsWith(`${describe} `),
      ).map((row) => row.test);
      expect(rows.sort(), file).toEqual(guarded.sort());
    }
  });

  it("control-plane-not-in-pods: the GC tests make the 3 calls only to grab kube-controller-manager's metrics from its pod", () => {
    const gcFile = readFileSync(
      join(kubernetesSourceDir(), "test/e2e/apimachinery/garbage_collector.go"),
      "utf8",
    );
    // Every conformance test of the file that gathers metrics and is not [Serial], and no other.
    const gathering = [...gcFile.matchAll(/framework\.ConformanceIt\("([^"]+)"(.*)\{\n([\s\S]*?)\n\t\}\)\n/g)]
      .filter(
        (m) => (m[3] as string).includes("gatherMetrics(ctx, f)") && !(m[2] as string).includes("WithSerial"),
      )
      .map((m) => `[sig-api-machinery] Garbage collector ${m[1]} [Conformance]`);
    expect(gathering.sort()).toEqual([...GATHERS_CONTROLLER_MANAGER_METRICS].sort());
    for (const test of GATHERS_CONTROLLER_MANAGER_METRICS) {
      for (const endpoint of CONTROLLER_MANAGER_POD_CALLS) {
        expect(issuing(test, endpoint), `${test}: ${endpoint}`).not.toEqual([]);
        expect(issuing(test, endpoint, ["test/e2e/apimachinery:gatherMetrics"]), endpoint).toEqual([]);
      }
    }
    // gatherMetrics asks for the controller manager's metrics (NewMetricsGrabber's third flag)...
    expect(functionBody("test/e2e/apimachinery:gatherMetrics")).toMatch(
      /NewMetricsGrabber\(ctx, f\.ClientSet, f\.KubemarkExternalClusterClientSet, f\.ClientConfig\(\), false, false, true,/,
    );
    const grabber = functionBody("test/e2e/framework/metrics:NewMetricsGrabber");
    expect(grabber).toMatch(/kubelets bool, scheduler bool, controllers bool,/);
    // ...which it grabs from a kube-system pod named kube-controller-manager-*, and with no such pod, not at all.
    expect(grabber).toMatch(
      /regKubeControllerManager := regexp\.MustCompile\("kube-controller-manager-\.\*"\)/,
    );
    expect(grabber).toMatch(
      /checkPodDebugHandlers\(ctx, c, controllers, "kube-controller-manager", kubeControllerManager\)/,
    );
    expect(functionBody("test/e2e/framework/metrics:checkPodDebugHandlers")).toMatch(
      /if podName == "" \{[^}]*return false\s*\}[\s\S]*GetLogs/,
    );
  });
});
