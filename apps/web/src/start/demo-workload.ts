import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";

const run = promisify(execFile);

/** One step of the demo: a few API calls a real tool would make. */
interface Step {
  name: string;
  act(): Promise<unknown>;
}

export interface DemoWorkloadOptions {
  /** `apisnoop.kubeconfig`: every call goes through the proxy. */
  kubeconfig: string;
  /** Pause between steps (ms). */
  pauseMs?: number;
  log: (line: string) => void;
}

/**
 * A scripted workload for `npm run demo`: kubectl the way a person uses it and @kubernetes/client-node
 * the way an operator does (namespaces, config maps, secrets, deployments, leases, RBAC, discovery,
 * watches), spread over a minute so the dashboard visibly fills. Runs until `stop()`; loops with a new
 * namespace per round. Failures are logged and the round goes on (a refused call is data too).
 */
export function startDemoWorkload(options: DemoWorkloadOptions): { stop(): Promise<void> } {
  const config = new k8s.KubeConfig();
  config.loadFromFile(options.kubeconfig);
  const core = config.makeApiClient(k8s.CoreV1Api);
  const apps = config.makeApiClient(k8s.AppsV1Api);
  const coordination = config.makeApiClient(k8s.CoordinationV1Api);
  const rbac = config.makeApiClient(k8s.RbacAuthorizationV1Api);
  const batch = config.makeApiClient(k8s.BatchV1Api);
  const networking = config.makeApiClient(k8s.NetworkingV1Api);
  const kubectl = (...args: string[]) =>
    run("kubectl", ["--kubeconfig", options.kubeconfig, ...args], { timeout: 30_000 });

  let stopped = false;
  let round = 0;
  const steps = (ns: string): Step[] => [
    { name: "kubectl get namespaces", act: () => kubectl("get", "namespaces") },
    { name: "kubectl create namespace", act: () => kubectl("create", "namespace", ns) },
    { name: "kubectl get pods -A", act: () => kubectl("get", "pods", "-A") },
    {
      name: "kubectl create configmap",
      act: () => kubectl("-n", ns, "create", "configmap", "settings", "--from-literal=mode=demo"),
    },
    {
      name: "kubectl get configmap -o yaml",
      act: () => kubectl("-n", ns, "get", "configmap", "settings", "-o", "yaml"),
    },
    {
      name: "kubectl create deployment",
      act: () => kubectl("-n", ns, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2"),
    },
    {
      name: "kubectl scale deployment",
      act: () => kubectl("-n", ns, "scale", "deployment", "web", "--replicas=3"),
    },
    { name: "kubectl api-resources", act: () => kubectl("api-resources") },
    { name: "client-node list namespaces", act: () => core.listNamespace() },
    {
      name: "client-node create secret",
      act: () =>
        core.createNamespacedSecret({
          namespace: ns,
          body: { metadata: { name: "token" }, stringData: { value: "demo" } },
        }),
    },
    {
      name: "client-node read secret",
      act: () => core.readNamespacedSecret({ name: "token", namespace: ns }),
    },
    {
      name: "client-node create lease",
      act: () =>
        coordination.createNamespacedLease({
          namespace: ns,
          body: {
            metadata: { name: "leader" },
            spec: { holderIdentity: "demo-operator", leaseDurationSeconds: 15 },
          },
        }),
    },
    {
      name: "client-node renew lease",
      act: async () => {
        const lease = await coordination.readNamespacedLease({ name: "leader", namespace: ns });
        lease.spec = { ...lease.spec, renewTime: new k8s.V1MicroTime() };
        return coordination.replaceNamespacedLease({ name: "leader", namespace: ns, body: lease });
      },
    },
    { name: "client-node list deployments", act: () => apps.listDeploymentForAllNamespaces() },
    {
      name: "client-node patch deployment",
      act: () =>
        apps.patchNamespacedDeployment(
          { name: "web", namespace: ns, body: [{ op: "replace", path: "/spec/replicas", value: 1 }] },
          k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
        ),
    },
    {
      name: "client-node create role",
      act: () =>
        rbac.createNamespacedRole({
          namespace: ns,
          body: {
            metadata: { name: "reader" },
            rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] }],
          },
        }),
    },
    {
      name: "client-node create job",
      act: () =>
        batch.createNamespacedJob({
          namespace: ns,
          body: {
            metadata: { name: "once" },
            spec: {
              template: {
                spec: {
                  restartPolicy: "Never",
                  containers: [{ name: "c", image: "busybox", command: ["true"] }],
                },
              },
            },
          },
        }),
    },
    { name: "client-node list ingresses", act: () => networking.listIngressForAllNamespaces() },
    { name: "client-node list services", act: () => core.listServiceForAllNamespaces() },
    { name: "client-node list events", act: () => core.listNamespacedEvent({ namespace: ns }) },
    { name: "kubectl get nodes", act: () => kubectl("get", "nodes") },
    { name: "kubectl get crd", act: () => kubectl("get", "crd") },
    {
      name: "kubectl get a group the cluster lacks",
      act: () => kubectl("get", "--raw", "/apis/demo.example.com/v1/widgets").catch(() => null),
    },
    { name: "kubectl delete namespace", act: () => kubectl("delete", "namespace", ns, "--wait=false") },
  ];

  const done = (async () => {
    while (!stopped) {
      round++;
      const ns = `apisnoop-demo-${Date.now().toString(36)}`;
      for (const step of steps(ns)) {
        if (stopped) break;
        try {
          await step.act();
        } catch (error) {
          options.log(`demo: ${step.name}: ${((error as Error).message ?? String(error)).split("\n")[0]}`);
        }
        await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 1500));
      }
      if (round === 1) options.log("demo: first round done; the workload keeps going until Ctrl-C");
    }
  })();

  return {
    async stop() {
      stopped = true;
      await done;
    },
  };
}
