import { execFileSync } from "node:child_process";
import { load } from "js-yaml";

/**
 * The upstream conformance tests run through the proxy without a node: ones that pass on a kube-apiserver with
 * kube-controller-manager and no nodes (API machinery, config objects, quota, events, leases, discovery,
 * field validation, …). Names are ginkgo's full spec texts, exactly as e2e.test puts them in its user
 * agent and as apisnoop's published data lists them.
 *
 * Tried and left out (README): "VolumeAttachment … lifecycle" picks a random node (panics with none);
 * "ResourceQuota should apply changes to a resourcequota status" waits for the quota controller's
 * 5-minute full resync (6 minutes alone).
 */

/** Every selected test; `npm run e2e:conformance` runs all of them. */
export const CONFORMANCE_TESTS: readonly string[] = [
  "[sig-api-machinery] server version should find the server version [Conformance]",
  "[sig-api-machinery] Discovery should validate PreferredVersion for each APIGroup [Conformance]",
  "[sig-api-machinery] Discovery should locate the groupVersion and a resource within each APIGroup [Conformance]",
  "[sig-api-machinery] AggregatedDiscovery should support aggregated discovery interface [Conformance]",
  "[sig-api-machinery] AggregatedDiscovery should support raw aggregated discovery endpoint Accept headers [Conformance]",
  "[sig-api-machinery] AggregatedDiscovery should support aggregated discovery interface for CRDs [Conformance]",
  "[sig-api-machinery] AggregatedDiscovery should support raw aggregated discovery request for CRDs [Conformance]",
  "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] Simple CustomResourceDefinition creating/deleting custom resource definition objects works [Conformance]",
  "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] Simple CustomResourceDefinition listing custom resource definition objects works [Conformance]",
  "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] Simple CustomResourceDefinition getting/updating/patching custom resource definition status sub-resource works [Conformance]",
  "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] should include custom resource definition resources in discovery documents [Conformance]",
  "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] custom resource defaulting for requests and from storage works [Conformance]",
  "[sig-api-machinery] CustomResourceDefinition Watch [Privileged:ClusterAdmin] CustomResourceDefinition Watch watch on custom resource definition objects [Conformance]",
  "[sig-api-machinery] FieldValidation should detect unknown and duplicate fields of a typed object [Conformance]",
  "[sig-api-machinery] FieldValidation should detect unknown metadata fields of a typed object [Conformance]",
  "[sig-api-machinery] FieldValidation should create/apply a valid CR for CRD with validation schema [Conformance]",
  "[sig-api-machinery] FieldValidation should create/apply a CR with unknown fields for CRD with no validation schema [Conformance]",
  "[sig-api-machinery] FieldValidation should create/apply an invalid CR with extra properties for CRD with validation schema [Conformance]",
  "[sig-api-machinery] FieldValidation should detect unknown metadata fields in both the root and embedded object of a CR [Conformance]",
  "[sig-api-machinery] FieldValidation should detect duplicates in a CR when preserving unknown fields [Conformance]",
  "[sig-api-machinery] Watchers should observe add, update, and delete watch notifications on configmaps [Conformance]",
  "[sig-api-machinery] Watchers should be able to start watching from a specific resource version [Conformance]",
  "[sig-api-machinery] Watchers should be able to restart watching from the last resource version observed by the previous watch [Conformance]",
  "[sig-api-machinery] Watchers should observe an object deletion if it stops meeting the requirements of the selector [Conformance]",
  "[sig-api-machinery] Watchers should receive events on concurrent watches in same order [Conformance]",
  "[sig-api-machinery] ResourceQuota should create a ResourceQuota and ensure its status is promptly calculated. [Conformance]",
  "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a configMap. [Conformance]",
  "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a secret. [Conformance]",
  "[sig-api-machinery] ResourceQuota should be able to update and delete ResourceQuota. [Conformance]",
  "[sig-api-machinery] ResourceQuota should manage the lifecycle of a ResourceQuota [Conformance]",
  "[sig-api-machinery] Servers with support for Table transformation should return a 406 for a backend which does not implement metadata [Conformance]",
  "[sig-api-machinery] API priority and fairness should support FlowSchema API operations [Conformance]",
  "[sig-api-machinery] API priority and fairness should support PriorityLevelConfiguration API operations [Conformance]",
  "[sig-api-machinery] ValidatingAdmissionPolicy [Privileged:ClusterAdmin] should support ValidatingAdmissionPolicy API operations [Conformance]",
  "[sig-api-machinery] ValidatingAdmissionPolicy [Privileged:ClusterAdmin] should support ValidatingAdmissionPolicyBinding API operations [Conformance]",
  "[sig-api-machinery] Namespaces [Serial] should patch a Namespace [Conformance]",
  "[sig-api-machinery] Namespaces [Serial] should apply an update to a Namespace [Conformance]",
  "[sig-api-machinery] Namespaces [Serial] should apply changes to a namespace status [Conformance]",
  "[sig-api-machinery] Namespaces [Serial] should apply a finalizer to a Namespace [Conformance]",
  "[sig-node] ConfigMap should run through a ConfigMap lifecycle [Conformance]",
  "[sig-node] ConfigMap should fail to create ConfigMap with empty key [Conformance]",
  "[sig-node] Secrets should fail to create secret due to empty secret key [Conformance]",
  "[sig-node] Secrets should patch a secret [Conformance]",
  "[sig-node] PodTemplates should run the lifecycle of PodTemplates [Conformance]",
  "[sig-node] PodTemplates should delete a collection of pod templates [Conformance]",
  "[sig-node] PodTemplates should replace a pod template [Conformance]",
  "[sig-node] Lease lease API should be available [Conformance]",
  "[sig-node] RuntimeClass should support RuntimeClasses API operations [Conformance]",
  "[sig-instrumentation] Events API should ensure that an event can be fetched, patched, deleted, and listed [Conformance]",
  "[sig-instrumentation] Events API should delete a collection of events [Conformance]",
  "[sig-instrumentation] Events should manage the lifecycle of an event [Conformance]",
  "[sig-instrumentation] Events should delete a collection of events [Conformance]",
  "[sig-auth] ServiceAccounts should run through the lifecycle of a ServiceAccount [Conformance]",
  "[sig-auth] ServiceAccounts should update a ServiceAccount [Conformance]",
  "[sig-auth] ServiceAccounts should guarantee kube-root-ca.crt exist in any namespace [Conformance]",
  "[sig-auth] ServiceAccounts should create a serviceAccountToken and ensure a successful TokenReview [Conformance]",
  "[sig-auth] SubjectReview should support SubjectReview API operations [Conformance]",
  "[sig-auth] Certificates API [Privileged:ClusterAdmin] should support CSR API operations [Conformance]",
  "[sig-network] Services should find a service from listing all namespaces [Conformance]",
  "[sig-network] Services should delete a collection of services [Conformance]",
  "[sig-network] Services should test the lifecycle of an Endpoint [Conformance]",
  "[sig-network] Ingress API should support creating Ingress API operations [Conformance]",
  "[sig-network] IngressClass API should support creating IngressClass API operations [Conformance]",
  "[sig-network] EndpointSlice should support creating EndpointSlice API operations [Conformance]",
  "[sig-scheduling] LimitRange should list, patch and delete a LimitRange by collection [Conformance]",
  "[sig-storage] CSIStorageCapacity should support CSIStorageCapacities API operations [Conformance]",
  "[sig-storage] CSINodes CSI Conformance should run through the lifecycle of a csinode [Conformance]",
  "[sig-storage] CSIInlineVolumes should run through the lifecycle of a CSIDriver [Conformance]",
  "[sig-apps] CronJob should support CronJob API operations [Conformance]",
];

/** Go (RE2) regexp metacharacters, escaped so a test name matches only itself. */
function escapeRegExp(text: string): string {
  return text.replace(/[\\.+*?()|[\]{}^$]/g, "\\$&");
}

/**
 * A `--ginkgo.focus` regexp selecting exactly `names`: each name's full text, anchored at the end. Not at
 * the start: the text ginkgo matches carries a prefix before the `[sig-…]` container (an anchored `^` selects
 * nothing), and every name starts with its `[sig-…]` tag, so no name is a suffix of another.
 */
export function ginkgoFocus(names: readonly string[]): string {
  return `(${names.map(escapeRegExp).join("|")})$`;
}

/** Selected tests that each take 8 s or more on the rig (waits on watches and the quota controller). */
export const SLOW_TESTS: readonly string[] = [
  "[sig-api-machinery] CustomResourceDefinition Watch [Privileged:ClusterAdmin] CustomResourceDefinition Watch watch on custom resource definition objects [Conformance]",
  "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a configMap. [Conformance]",
  "[sig-api-machinery] Watchers should observe add, update, and delete watch notifications on configmaps [Conformance]",
  "[sig-api-machinery] Watchers should observe an object deletion if it stops meeting the requirements of the selector [Conformance]",
  "[sig-api-machinery] ResourceQuota should create a ResourceQuota and capture the life of a secret. [Conformance]",
  "[sig-api-machinery] Watchers should receive events on concurrent watches in same order [Conformance]",
];

/** What `conformance.rig.test.ts` runs: every selected test but the slow ones (about 1.5 minutes). */
export const RIG_TEST_SUBSET: readonly string[] = CONFORMANCE_TESTS.filter(
  (name) => !SLOW_TESTS.includes(name),
);

/**
 * Every conformance test of the suite's release, as e2e.test lists them (`--list-conformance-tests`: the
 * module's test/conformance/testdata/conformance.yaml), by full spec text.
 * @throws Error when e2e.test cannot list them.
 */
export function conformanceTestsOf(binary: string): string[] {
  const output = execFileSync(binary, ["--list-conformance-tests"], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const tests = load(output) as Array<{ codename?: unknown }> | null;
  if (!Array.isArray(tests)) throw new Error(`${binary} --list-conformance-tests printed no list`);
  return tests.map((test) => String(test.codename ?? "")).filter((name) => name.length > 0);
}

/** Why a conformance test is left out of the node run. */
export interface LeftOut {
  test: string;
  reason: string;
}

/** The conformance tests the rig's node can support: every one of `all` but those {@link LEFT_OUT_ON_NODE}. */
export function nodeConformanceTests(all: readonly string[]): string[] {
  const leftOut = new Set(LEFT_OUT_ON_NODE.map((entry) => entry.test));
  return all.filter((name) => !leftOut.has(name));
}

/** Conformance tests the rig's node cannot support, each with why (what was tried and what failed). */
export const LEFT_OUT_ON_NODE: readonly LeftOut[] = [
  {
    test: "[sig-architecture] Conformance Tests should have at least two untainted nodes [Conformance]",
    reason:
      "the rig has one node: `Conformance requires at least two nodes` (architecture/conformance.go:45)",
  },
  {
    test: "[sig-apps] Daemon set [Serial] should rollback without unnecessary restarts [Conformance]",
    reason:
      "the rig has one node: `Conformance test suite needs a cluster with at least 2 nodes` (apps/daemon_set.go:446)",
  },
  {
    test: "[sig-node] Kubelet when scheduling a read only busybox container should not write to root filesystem [LinuxOnly] [NodeConformance] [Conformance]",
    reason:
      "it expects busybox ash's exact words, `/bin/sh: can't create /file: Read-only file system`; the rig's busybox " +
      "image runs bash as /bin/sh (`/bin/sh: line 1: /file: Read-only file system`), because Debian's busybox ash " +
      "drops environment variables whose names are not identifiers, which the ConfigMap and Secret env tests read",
  },
];

/**
 * What `conformance.node.test.ts` runs in CI: a few quick tests of each kind that needs a node — pods and
 * their status, logs and exec, volumes, environment, a controller, a Service, an admission webhook. Not
 * _the lifecycle of Pods and PodStatus_: it changes the pod's image and expects the restarted container
 * Ready at once, which a machine at load average 45 missed (the full run keeps it).
 */
export const NODE_TEST_SUBSET: readonly string[] = [
  "[sig-node] Pods should get a host IP [NodeConformance] [Conformance]",
  "[sig-node] Pods should support retrieving logs from the container over websockets [NodeConformance] [Conformance]",
  "[sig-storage] ConfigMap should be consumable from pods in volume [NodeConformance] [Conformance]",
  "[sig-node] Downward API should provide pod name, namespace and IP address as env vars [NodeConformance] [Conformance]",
  "[sig-apps] Deployment RollingUpdateDeployment should delete old pods and create new ones [Conformance]",
  "[sig-network] Services should serve a basic endpoint from pods [Conformance]",
  "[sig-api-machinery] AdmissionWebhook [Privileged:ClusterAdmin] should mutate configmap [Conformance]",
];
