/**
 * The chart end to end on the rig's node, as a user runs it: `helm install` with the rig's images and a
 * volume for PostgreSQL; a namespace labelled `apisnoop.io/snoop=true` with a workload Deployment whose
 * client uses the in-cluster configuration; the webhook routes its pod to the proxy Service, the proxy
 * attributes the calls by the pod's real address and delivers them, and the dashboard's HTTP API lists the
 * workload as a source with its namespace, pod, service account and chart, and exactly the endpoints the
 * apiserver's audit log has for its service account. Pods without the opt-in are untouched and unseen.
 * Pods that also ask for the redirect route (`apisnoop.io/redirect: iptables`) keep the apiserver's
 * address — one client hardcodes `https://kubernetes.default.svc`, one uses the ClusterIP the kubelet gives
 * it — and their connections are sent to the proxy by NAT rules in their own network namespace.
 * Upstream's e2e.test runs as a Job in that namespace too, as conformance runners run it in a cluster: its
 * tests' calls are listed per test in the dashboard and compared with apisnoop's published data.
 */
import { buildCatalog, compileMatcher, loadSpec, type RequestMatcher } from "@apisnoop/openapi";
import { sharedApisnoopCoverage, sharedCatalog } from "@apisnoop/openapi/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ginkgoFocus } from "../../../tools/e2e/conformance-tests";
import { e2eBinaryAvailable, e2eBinaryPath } from "../../../tools/e2e/e2e-binary";
import { compareTests, summarizeComparison } from "../../../tools/e2e/endpoint-comparison";
import { publishedEndpointsByTest } from "../../../tools/e2e/test-endpoints";
import { e2eRunnerImage, toolboxImage } from "../../../tools/images/rig-images";
import { loadRigImages } from "../../../tools/images/rig-load";
import { type ApisnoopRelease, installApisnoop } from "../../../tools/rig/apisnoop-release";
import { readAuditEvents } from "../../../tools/rig/audit";
import { rigApply, rigKubectl } from "../../../tools/rig/kubectl";
import { rigKubeconfigPath } from "../../../tools/rig/rig";
import { uniqueNamespace, until } from "../../../tools/rig/test-objects";

const id = uniqueNamespace("x").slice(2);
const release = `snoop-${id}`;
const system = `apisnoop-${id}`;
/** Labelled `apisnoop.io/snoop=true`: the workload and a pod that opts out. */
const snooped = `snooped-${id}`;
/** Not labelled: a pod without the opt-in, and the pod that reads the dashboard. */
const plain = `plain-${id}`;
const WORKLOAD_CHART = {
  "helm.sh/chart": "workload-0.1.0",
  "app.kubernetes.io/instance": "workload",
  "app.kubernetes.io/managed-by": "Helm",
};

const REDIRECT = { "apisnoop.io/redirect": "iptables" };
/** The redirected clients: one hardcodes the Service's name, one uses KUBERNETES_SERVICE_HOST (the ClusterIP). */
const REDIRECTED = ["redirected", "redirected-ip"] as const;

/**
 * Quick API conformance tests e2e.test runs from a pod (the rig's node has none of the test images that
 * pod-running tests need yet).
 */
const IN_CLUSTER_TESTS = [
  "[sig-api-machinery] server version should find the server version [Conformance]",
  "[sig-node] ConfigMap should run through a ConfigMap lifecycle [Conformance]",
  "[sig-node] Secrets should patch a secret [Conformance]",
  "[sig-node] PodTemplates should run the lifecycle of PodTemplates [Conformance]",
  "[sig-network] Services should find a service from listing all namespaces [Conformance]",
  "[sig-auth] ServiceAccounts should run through the lifecycle of a ServiceAccount [Conformance]",
];
/** e2e.test takes half an hour to build: without it, the in-cluster run is skipped unless E2E_REQUIRED=1. */
const e2eAvailable = e2eBinaryAvailable();
if (!e2eAvailable && process.env.E2E_REQUIRED === "1") {
  throw new Error("E2E_REQUIRED=1 but e2e.test is not built: run `npm run e2e:build` first");
}
/** The ClusterRoleBinding that makes the conformance Job's service account cluster-admin, as e2e.test needs. */
const conformanceAdmin = `apisnoop-conformance-${id}`;

let apisnoop: ApisnoopRelease;
let toolbox = "";
let matcher: RequestMatcher;

interface Pod {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    initContainers?: Array<{ name: string }>;
    containers: Array<{ env?: Array<{ name: string; value?: string }> }>;
    volumes?: Array<{ name: string; projected?: { sources: Array<{ configMap?: { name: string } }> } }>;
  };
  status: {
    podIP?: string;
    phase?: string;
    initContainerStatuses?: Array<{ name: string; state: { terminated?: { exitCode: number } } }>;
  };
}

/** A service account with the built-in `edit` role in its namespace, and a client running as it. */
async function client(
  namespace: string,
  name: string,
  rounds: number,
  annotations: Record<string, string> = {},
  /** A URL the client hardcodes instead of the in-cluster configuration's. */
  server?: string,
) {
  await rigApply({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace } });
  await rigApply({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name, namespace },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "edit" },
    subjects: [{ kind: "ServiceAccount", name, namespace }],
  });
  await rigApply({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...WORKLOAD_CHART }, annotations },
        spec: {
          serviceAccountName: name,
          containers: [
            {
              name: "client",
              image: toolbox,
              imagePullPolicy: "Never",
              command: [
                "sh",
                "-c",
                `node /toolbox/in-cluster-client.mjs --rounds=${rounds} --interval=3${server ? ` --server=${server}` : ""}; sleep 3600`,
              ],
            },
          ],
        },
      },
    },
  });
}

/** e2e.test as a Job in the snooped namespace, running {@link IN_CLUSTER_TESTS} as cluster-admin. */
async function conformanceJob(image: string) {
  const name = "conformance";
  await rigApply({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: snooped } });
  await rigApply({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: conformanceAdmin },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
    subjects: [{ kind: "ServiceAccount", name, namespace: snooped }],
  });
  await rigApply({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace: snooped },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { labels: { app: name } },
        spec: {
          serviceAccountName: name,
          restartPolicy: "Never",
          containers: [
            {
              name: "e2e",
              image,
              imagePullPolicy: "Never",
              args: [
                "--provider=skeleton",
                "--num-nodes=1",
                "--disable-log-dump",
                `--ginkgo.focus=${ginkgoFocus(IN_CLUSTER_TESTS)}`,
                "--ginkgo.no-color",
                "--ginkgo.v",
                "--ginkgo.timeout=15m",
              ],
            },
          ],
        },
      },
    },
  });
}

/** The running pod of Deployment `app` in `namespace`. */
async function podOf(namespace: string, app: string): Promise<Pod> {
  return until(
    `a running pod of ${namespace}/${app}`,
    async () => {
      const list = JSON.parse(
        await rigKubectl(["-n", namespace, "get", "pods", "-l", `app=${app}`, "-o", "json"]),
      ) as {
        items: Pod[];
      };
      return list.items.find((pod) => pod.status.phase === "Running" && pod.status.podIP);
    },
    120_000,
  );
}

/** `GET <dashboard>/api/v1/<path>` from inside the cluster, signed in with basic auth. */
async function dashboard<T>(path: string): Promise<T> {
  const { username, password } = apisnoop.dashboard;
  const auth = Buffer.from(`${username}:${password}`).toString("base64");
  const body = await rigKubectl([
    "-n",
    plain,
    "exec",
    "reader",
    "--",
    "wget",
    "-qO-",
    "--header",
    `Authorization: Basic ${auth}`,
    `${apisnoop.webUrl}/api/v1/${path}`,
  ]);
  return JSON.parse(body) as T;
}

interface Coverage {
  release: string;
  endpoints: Array<{ operationId: string; hits: number }>;
  sources: Array<{ source: Record<string, string | null>; hits: number; endpoints: number }>;
}

/** The operationIds of the apiserver's audit events of `user`. */
function auditedEndpoints(user: string): Set<string> {
  const method: Record<string, string> = {
    get: "GET",
    list: "GET",
    watch: "GET",
    create: "POST",
    update: "PUT",
    patch: "PATCH",
    delete: "DELETE",
    deletecollection: "DELETE",
  };
  return new Set(
    readAuditEvents()
      .filter((event) => event.user.username === user && event.stage === "ResponseComplete")
      .map(
        (event) =>
          matcher.match(method[event.verb] ?? event.verb.toUpperCase(), event.requestURI).operationId,
      )
      .filter((operationId): operationId is string => !!operationId),
  );
}

beforeAll(async () => {
  const log = (line: string) => console.log(line);
  apisnoop = await installApisnoop(release, system, log);
  [toolbox = ""] = loadRigImages([toolboxImage()], log);
  const live = await loadSpec("live", { kubeconfig: rigKubeconfigPath("admin") });
  matcher = compileMatcher(buildCatalog(live.spec, live.release));
  await rigApply({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: snooped, labels: { "apisnoop.io/snoop": "true" } },
  });
  await rigApply({ apiVersion: "v1", kind: "Namespace", metadata: { name: plain } });
  await client(snooped, "workload", 0);
  await client(snooped, "redirected", 0, REDIRECT, "https://kubernetes.default.svc");
  await client(snooped, "redirected-ip", 0, REDIRECT);
  await client(snooped, "opted-out", 1, { "apisnoop.io/snoop": "false" });
  await client(plain, "bystander", 1);
  if (e2eAvailable) await conformanceJob(loadRigImages([e2eRunnerImage(e2eBinaryPath())], log)[0] ?? "");
  await rigApply({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "reader", namespace: plain },
    spec: {
      automountServiceAccountToken: false,
      containers: [{ name: "reader", image: toolbox, imagePullPolicy: "Never", command: ["sleep", "3600"] }],
    },
  });
  // Every dashboard read execs in it: a test that ran before it started would fail, not wait.
  await rigKubectl(["-n", plain, "wait", "--for=condition=Ready", "pod/reader", "--timeout=300s"]);
}, 1_200_000);

afterAll(async () => {
  await rigKubectl(["delete", "clusterrolebinding", conformanceAdmin, "--ignore-not-found"]).catch(
    () => undefined,
  );
  for (const namespace of [snooped, plain]) {
    await rigKubectl(["delete", "namespace", namespace, "--wait=false", "--ignore-not-found"]).catch(
      () => undefined,
    );
  }
  await apisnoop?.uninstall();
});

describe("charts/apisnoop on the rig's node", () => {
  it("routes the opted-in workload's pod to the proxy and leaves the others untouched", async () => {
    const workload = await podOf(snooped, "workload");
    expect(workload.metadata.annotations?.["apisnoop.io/injected"]).toBe("true");
    const env = Object.fromEntries((workload.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(env.KUBERNETES_SERVICE_HOST).toBe(apisnoop.proxyHost);
    for (const [namespace, app] of [
      [snooped, "opted-out"],
      [plain, "bystander"],
    ] as const) {
      const pod = await podOf(namespace, app);
      expect(pod.metadata.annotations?.["apisnoop.io/injected"], app).toBeUndefined();
      expect(pod.spec.containers[0]?.env, app).toBeUndefined();
      const caSource = pod.spec.volumes
        ?.find((volume) => volume.name.startsWith("kube-api-access-"))
        ?.projected?.sources.find((source) => source.configMap)?.configMap?.name;
      expect(caSource, app).toBe("kube-root-ca.crt");
    }
  });

  it("lists the workload as a source with its namespace, pod, service account and chart", async () => {
    const workload = await podOf(snooped, "workload");
    const row = await until(
      "the workload in the dashboard",
      async () =>
        (await dashboard<Coverage>(`coverage?namespace=${snooped}&serviceAccount=workload`)).sources.find(
          (s) => s.source.pod === workload.metadata.name,
        ),
      180_000,
    );
    expect(row.source).toMatchObject({
      namespace: snooped,
      pod: workload.metadata.name,
      serviceAccount: "workload",
      chart: "workload-0.1.0",
      helmRelease: "workload",
      managedBy: "Helm",
    });
  });

  it("shows exactly the endpoints the apiserver's audit log has for the workload's service account", async () => {
    const user = `system:serviceaccount:${snooped}:workload`;
    // The client repeats the same eight calls: once both sides have all of them they stay equal.
    const { dashboardSet, auditSet } = await until(
      "the dashboard and the audit log to agree",
      async () => {
        const coverage = await dashboard<Coverage>(`coverage?namespace=${snooped}&serviceAccount=workload`);
        const dashboardSet = new Set(coverage.endpoints.filter((e) => e.hits > 0).map((e) => e.operationId));
        const auditSet = auditedEndpoints(user);
        return dashboardSet.size >= 8 && auditSet.size >= 8 ? { dashboardSet, auditSet } : null;
      },
      180_000,
    );
    expect([...dashboardSet].sort()).toEqual([...auditSet].sort());
    expect(dashboardSet).toContain("createCoreV1NamespacedConfigMap");
    expect(dashboardSet).toContain("getCodeVersion");
  });

  it("never sees the calls of pods without the opt-in, which reach the apiserver from their own address", async () => {
    for (const [namespace, app] of [
      [snooped, "opted-out"],
      [plain, "bystander"],
    ] as const) {
      const pod = await podOf(namespace, app);
      const user = `system:serviceaccount:${namespace}:${app}`;
      const events = await until(
        `${app}'s calls in the audit log`,
        () => {
          const found = readAuditEvents().filter(
            (e) => e.user.username === user && e.stage === "ResponseComplete",
          );
          return found.length >= 8 ? found : null;
        },
        180_000,
      );
      for (const event of events) expect(event.sourceIPs, app).toEqual([pod.status.podIP]);
      const coverage = await dashboard<Coverage>(`coverage?namespace=${namespace}&serviceAccount=${app}`);
      expect(coverage.sources, app).toEqual([]);
      expect(
        coverage.endpoints.filter((e) => e.hits > 0),
        app,
      ).toEqual([]);
    }
  });
});

describe("the redirect route (apisnoop.io/redirect: iptables) on the rig's node", () => {
  it("runs the redirect init container first and leaves the pod's apiserver address as the kubelet set it", async () => {
    for (const app of REDIRECTED) {
      const pod = await podOf(snooped, app);
      expect(pod.metadata.annotations?.["apisnoop.io/injected"], app).toBe("true");
      expect(pod.spec.initContainers?.[0]?.name, app).toBe("apisnoop-redirect");
      expect(pod.status.initContainerStatuses?.[0]?.state.terminated?.exitCode, app).toBe(0);
      const env = (pod.spec.containers[0]?.env ?? []).map((entry) => entry.name);
      expect(env, app).not.toContain("KUBERNETES_SERVICE_HOST");
      const rules = await rigKubectl(["-n", snooped, "logs", pod.metadata.name, "-c", "apisnoop-redirect"]);
      expect(rules, app).toMatch(/-A APISNOOP_REDIRECT -d [\d.]+\/32 -p tcp -m tcp --dport \d+ -j DNAT/);
    }
    const log = await rigKubectl(["-n", snooped, "logs", (await podOf(snooped, "redirected")).metadata.name]);
    expect(log).toContain("in-cluster-client: https://kubernetes.default.svc");
  });

  it("captures clients that hardcode the apiserver's name or use its ClusterIP, attributed to their pod", async () => {
    const proxyIPs = new Set(
      (
        JSON.parse(
          await rigKubectl([
            "-n",
            apisnoop.namespace,
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/component=proxy",
            "-o",
            "json",
          ]),
        ) as { items: Pod[] }
      ).items.map((pod) => pod.status.podIP),
    );
    for (const app of REDIRECTED) {
      const pod = await podOf(snooped, app);
      const row = await until(
        `${app} in the dashboard`,
        async () =>
          (await dashboard<Coverage>(`coverage?namespace=${snooped}&serviceAccount=${app}`)).sources.find(
            (s) => s.source.pod === pod.metadata.name,
          ),
        180_000,
      );
      expect(row.source, app).toMatchObject({
        namespace: snooped,
        pod: pod.metadata.name,
        serviceAccount: app,
      });
      const user = `system:serviceaccount:${snooped}:${app}`;
      const { dashboardSet, auditSet } = await until(
        `${app}: the dashboard and the audit log to agree`,
        async () => {
          const coverage = await dashboard<Coverage>(`coverage?namespace=${snooped}&serviceAccount=${app}`);
          const dashboardSet = new Set(
            coverage.endpoints.filter((e) => e.hits > 0).map((e) => e.operationId),
          );
          const auditSet = auditedEndpoints(user);
          return dashboardSet.size >= 8 && auditSet.size >= 8 ? { dashboardSet, auditSet } : null;
        },
        180_000,
      );
      expect([...dashboardSet].sort(), app).toEqual([...auditSet].sort());
      // Every call reached the apiserver from the proxy, none from the pod's own address.
      const events = readAuditEvents().filter(
        (e) => e.user.username === user && e.stage === "ResponseComplete",
      );
      expect(events.length, app).toBeGreaterThan(0);
      for (const event of events) {
        const [from, ...more] = event.sourceIPs ?? [];
        expect(more, app).toEqual([]);
        expect(proxyIPs.has(from), `${app}: from ${from}`).toBe(true);
      }
    }
  });
});

describe.skipIf(!e2eAvailable)("upstream conformance tests run from a pod through the chart's proxy", () => {
  it("passes, and the dashboard lists each test's endpoints as apisnoop's published data, up to explained differences", async () => {
    const job = await until(
      "the conformance Job to finish",
      async () => {
        const status = JSON.parse(
          await rigKubectl(["-n", snooped, "get", "job", "conformance", "-o", "jsonpath={.status}"]),
        ) as { succeeded?: number; failed?: number };
        return status.succeeded || status.failed ? status : null;
      },
      900_000,
    );
    const log = await rigKubectl(["-n", snooped, "logs", "job/conformance", "--tail=40"]);
    expect(job.succeeded, log).toBe(1);
    expect(log).toMatch(new RegExp(`Ran ${IN_CLUSTER_TESTS.length} of \\d+ Specs`));
    const pod = (
      JSON.parse(
        await rigKubectl(["-n", snooped, "get", "pods", "-l", "job-name=conformance", "-o", "json"]),
      ) as { items: Pod[] }
    ).items[0];
    expect(pod?.metadata.annotations?.["apisnoop.io/injected"]).toBe("true");
    const catalog = sharedCatalog("1.34");
    const stable = (operationId: string) => {
      const endpoint = catalog.byOperationId.get(operationId);
      return !!endpoint && !endpoint.watchOperation && endpoint.level === "stable";
    };
    const observed = new Map<string, Set<string>>();
    for (const test of IN_CLUSTER_TESTS) {
      const coverage = await until(
        `${test} in the dashboard`,
        async () => {
          const found = await dashboard<Coverage>(
            `coverage?namespace=${snooped}&serviceAccount=conformance&e2eTest=${encodeURIComponent(test)}`,
          );
          return found.endpoints.some((e) => e.hits > 0) ? found : null;
        },
        180_000,
      );
      expect(coverage.sources.map((s) => s.source.pod)).toEqual([pod?.metadata.name]);
      observed.set(
        test,
        new Set(
          coverage.endpoints.filter((e) => e.hits > 0 && stable(e.operationId)).map((e) => e.operationId),
        ),
      );
    }
    const comparisons = compareTests(
      IN_CLUSTER_TESTS.map((name) => ({ name, state: "passed" as const, durationSeconds: 0 })),
      observed,
      publishedEndpointsByTest(sharedApisnoopCoverage("1.34").endpoints),
    );
    const unexplained = comparisons.flatMap((c) => [
      ...c.extras.filter((d) => d.explanation === null).map((d) => `${c.test}: + ${d.endpoint}`),
      ...c.misses.filter((d) => d.explanation === null).map((d) => `${c.test}: - ${d.endpoint}`),
    ]);
    expect(unexplained).toEqual([]);
    const summary = summarizeComparison(comparisons);
    console.log(
      `in-cluster conformance: ${summary.tests} tests, ${summary.identical} with exactly apisnoop's set; ${summary.matches} matches, ${summary.extras} extras, ${summary.misses} misses, ${summary.unexplained} unexplained`,
    );
    expect(summary.matches).toBeGreaterThan(summary.extras + summary.misses);
  }, 900_000);
});
