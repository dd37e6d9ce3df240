import { randomUUID } from "node:crypto";
import {
  type FieldCount,
  type HitRollup,
  type IngestBatch,
  PROTOCOL_VERSION,
  type Source,
  sourceFromUserAgent,
  UPSTREAM_E2E,
} from "@apisnoop/protocol";

/**
 * Test support: one 1.34 scenario for the priorities views (db query, HTTP API, page, CLI), so each
 * asserts the same exact ranking. Several charts share endpoints and fields; a conformance test run
 * through the proxy covers some of them (with bodies), apisnoop's published data covers one more
 * (without bodies), a plain e2e test and the suite's set-up hit others. The sources of one `ops`
 * deployer made all their calls three hours before the others, for time windows.
 */

const source = (userAgent: string, overrides: Partial<Source> = {}): Source => ({
  ...sourceFromUserAgent(userAgent),
  ...overrides,
});

const E2E = "e2e.test/v1.34.4 (linux/amd64) kubernetes/abc";

/** The scenario's sources, by the name the tests use. */
export const PRIORITY_SOURCES = {
  ingressA: source("nginx-ingress-controller/v1.10.0", {
    chart: "ingress-nginx-4.10.0",
    namespace: "ingress",
    pod: "ingress-0",
    serviceAccount: "ingress-nginx",
  }),
  // Another version of the chart in another namespace: the same workload.
  ingressB: source("nginx-ingress-controller/v1.11.0", {
    chart: "ingress-nginx-4.11.0",
    namespace: "edge",
    pod: "edge-0",
    serviceAccount: "ingress-nginx",
  }),
  certManager: source("cert-manager/v1.14.0", {
    chart: "cert-manager-v1.14.0",
    namespace: "cert-manager",
    pod: "cert-manager-0",
    serviceAccount: "cert-manager",
  }),
  prometheus: source("prometheus/2.50.0", {
    chart: "prometheus-25.0.0",
    namespace: "monitoring",
    pod: "prometheus-0",
    serviceAccount: "prometheus",
  }),
  deployer: source("deployer/1.0", { namespace: "ops", pod: "deployer-0", serviceAccount: "deployer" }),
  kubectl134: source("kubectl/v1.34.0 (linux/amd64) kubernetes/abc"),
  kubectl133: source("kubectl/v1.33.1 (linux/amd64) kubernetes/def"),
  coredns: source("coredns/1.11.1", { namespace: "kube-system", pod: "coredns-0" }),
  conformanceRun: source(`${E2E} -- [sig-node] Pods should get a pod [Conformance]`),
  plainE2e: source(`${E2E} -- [sig-apps] Deployment should roll over`),
  published: source("e2e.test -- [sig-node] Node should be read [Conformance]", { name: UPSTREAM_E2E }),
  suiteSetUp: source(E2E),
} satisfies Record<string, Source>;

export type PrioritySourceName = keyof typeof PRIORITY_SOURCES;

const NAMES = Object.keys(PRIORITY_SOURCES) as PrioritySourceName[];
const POD = "io.k8s.api.core.v1.Pod";
const SECRET = "io.k8s.api.core.v1.Secret";

/**
 * The scenario as one ingest batch of release 1.34: everything at `minute` (epoch minutes) except the
 * deployer's calls, three hours earlier.
 */
export function prioritiesBatch(minute: number): IngestBatch {
  const early = minute - 180;
  const hit = (
    who: PrioritySourceName,
    operationId: string,
    count: number,
    statusClass: HitRollup["statusClass"] = "2xx",
  ): HitRollup => ({
    source: NAMES.indexOf(who),
    operationId,
    method: "GET",
    statusClass,
    minute: who === "deployer" ? early : minute,
    count,
    details: {},
  });
  const field = (
    who: PrioritySourceName,
    operationId: string,
    direction: FieldCount["direction"],
    path: string,
    count: number,
    unknown = false,
  ): FieldCount => ({
    source: NAMES.indexOf(who),
    operationId,
    direction,
    field: path,
    unknown,
    hour: Math.floor((who === "deployer" ? early : minute) / 60),
    count,
  });
  return {
    protocol: PROTOCOL_VERSION,
    batchId: randomUUID(),
    proxyId: "priorities-scenario",
    release: "1.34",
    sentAt: minute * 60_000,
    sources: NAMES.map((name) => PRIORITY_SOURCES[name]),
    hits: [
      // Conformance-tested through the proxy: never listed.
      hit("ingressA", "listCoreV1NamespacedPod", 5),
      hit("ingressB", "listCoreV1NamespacedPod", 3),
      hit("certManager", "listCoreV1NamespacedPod", 2),
      hit("prometheus", "listCoreV1NamespacedPod", 4),
      hit("deployer", "listCoreV1NamespacedPod", 1),
      hit("kubectl134", "listCoreV1NamespacedPod", 1),
      hit("conformanceRun", "listCoreV1NamespacedPod", 1),
      // Four workloads: two charts, prometheus, and kubectl (two versions, failing calls only).
      hit("ingressA", "readCoreV1NamespacedConfigMap", 10),
      hit("certManager", "readCoreV1NamespacedConfigMap", 3),
      hit("prometheus", "readCoreV1NamespacedConfigMap", 2),
      hit("kubectl134", "readCoreV1NamespacedConfigMap", 1, "4xx"),
      hit("kubectl133", "readCoreV1NamespacedConfigMap", 1, "4xx"),
      hit("certManager", "createCoreV1NamespacedSecret", 2),
      hit("prometheus", "createCoreV1NamespacedSecret", 2),
      hit("deployer", "createCoreV1NamespacedSecret", 6),
      // Two installs of one chart are one workload.
      hit("ingressA", "listCoordinationV1NamespacedLease", 20),
      hit("ingressB", "listCoordinationV1NamespacedLease", 20),
      hit("coredns", "listCoordinationV1NamespacedLease", 2),
      hit("certManager", "listResourceV1beta1DeviceClass", 1),
      hit("prometheus", "listResourceV1beta1DeviceClass", 1),
      hit("ingressA", "listStorageV1alpha1VolumeAttributesClass", 1),
      hit("prometheus", "patchAppsV1NamespacedDeployment", 1),
      hit("plainE2e", "patchAppsV1NamespacedDeployment", 1),
      hit("coredns", "listCoreV1Namespace", 1),
      hit("suiteSetUp", "listCoreV1Namespace", 1),
      // Conformance-tested by the published data only.
      hit("kubectl134", "readCoreV1Node", 2),
      hit("published", "readCoreV1Node", 1),
      // Not an endpoint of the release.
      hit("ingressA", "listExampleV1Widget", 9),
    ],
    unknownCalls: [],
    fields: [
      field("ingressA", "listCoreV1NamespacedPod", "response", `${POD}:spec.containers[].image`, 5),
      field("certManager", "listCoreV1NamespacedPod", "response", `${POD}:spec.containers[].image`, 2),
      field("prometheus", "listCoreV1NamespacedPod", "response", `${POD}:spec.containers[].image`, 1),
      field("conformanceRun", "listCoreV1NamespacedPod", "response", `${POD}:spec.containers[].image`, 1),
      field("ingressA", "listCoreV1NamespacedPod", "response", `${POD}:status.podIP`, 3),
      field("ingressB", "listCoreV1NamespacedPod", "response", `${POD}:status.podIP`, 2),
      field("certManager", "listCoreV1NamespacedPod", "response", `${POD}:status.podIP`, 1),
      // A plain e2e test's bodies do not count as conformance coverage.
      field("plainE2e", "listCoreV1NamespacedPod", "response", `${POD}:status.podIP`, 1),
      field("prometheus", "listCoreV1NamespacedPod", "response", `${POD}:metadata.ownerReferences[]`, 2),
      field("deployer", "listCoreV1NamespacedPod", "response", `${POD}:metadata.ownerReferences[]`, 1),
      // Carried by the conformance test in the other direction only.
      field("certManager", "listCoreV1NamespacedPod", "response", `${POD}:metadata.labels`, 1),
      field("conformanceRun", "listCoreV1NamespacedPod", "request", `${POD}:metadata.labels`, 1),
      // Not in the schema: not a test to write.
      field("ingressA", "listCoreV1NamespacedPod", "response", `${POD}:spec.fooBar`, 7, true),
      field("certManager", "createCoreV1NamespacedSecret", "request", `${SECRET}:stringData`, 1),
      field("prometheus", "createCoreV1NamespacedSecret", "request", `${SECRET}:stringData`, 1),
      field("deployer", "createCoreV1NamespacedSecret", "request", `${SECRET}:stringData`, 4),
      field("certManager", "createCoreV1NamespacedSecret", "request", `${SECRET}:stringData{}`, 1),
      field("prometheus", "createCoreV1NamespacedSecret", "request", `${SECRET}:stringData{}`, 1),
      field(
        "kubectl134",
        "readCoreV1Node",
        "response",
        "io.k8s.api.core.v1.Node:status.nodeInfo.kubeletVersion",
        2,
      ),
      field(
        "kubectl133",
        "readCoreV1Node",
        "response",
        "io.k8s.api.core.v1.Node:status.nodeInfo.kubeletVersion",
        1,
      ),
    ],
  };
}
