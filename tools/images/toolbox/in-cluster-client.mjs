#!/usr/bin/env node
// A Kubernetes client as an addon runs one: @kubernetes/client-node with the in-cluster configuration
// (the service account's token and ca.crt, the apiserver at KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT),
// or, with --server, at a URL it hardcodes as some clients do (`https://kubernetes.default.svc`).
//
// Each round makes the same eight calls in the pod's namespace and prints one line per call, so a test can
// read from the pod's log which calls it made:
//   round <n> <operationId> <HTTP status>
// Usage: node in-cluster-client.mjs [--rounds=N (0: forever, default 1)] [--interval=SECONDS] [--server=URL]
import { readFileSync } from "node:fs";
import * as k8s from "@kubernetes/client-node";

const options = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const match = /^--([\w-]+)=(.*)$/.exec(arg);
    if (!match) {
      console.error(`in-cluster-client: unknown argument ${arg}`);
      process.exit(2);
    }
    return [match[1], match[2]];
  }),
);
const rounds = Number(options.rounds ?? 1);
const intervalMs = Number(options.interval ?? 5) * 1000;

const config = new k8s.KubeConfig();
config.loadFromCluster();
if (options.server) {
  config.clusters = config.clusters.map((cluster) => ({ ...cluster, server: options.server }));
}
const namespace = readFileSync("/var/run/secrets/kubernetes.io/serviceaccount/namespace", "utf8").trim();
const core = config.makeApiClient(k8s.CoreV1Api);
const version = config.makeApiClient(k8s.VersionApi);
console.log(`in-cluster-client: ${config.getCurrentCluster()?.server} namespace ${namespace}`);

/** Runs one call and prints its status; an HTTP error is printed, not thrown. */
async function call(round, operationId, run) {
  try {
    await run();
    console.log(`round ${round} ${operationId} 200`);
  } catch (error) {
    const status = error?.code ?? error?.statusCode ?? "error";
    console.log(`round ${round} ${operationId} ${status} ${status === "error" ? String(error) : ""}`.trim());
  }
}

for (let round = 1; rounds === 0 || round <= rounds; round++) {
  const name = `in-cluster-client-${round}`;
  const body = { metadata: { name }, data: { round: String(round) } };
  await call(round, "getCodeVersion", () => version.getCode());
  await call(round, "listCoreV1NamespacedConfigMap", () => core.listNamespacedConfigMap({ namespace }));
  await call(round, "createCoreV1NamespacedConfigMap", () =>
    core.createNamespacedConfigMap({ namespace, body }),
  );
  await call(round, "readCoreV1NamespacedConfigMap", () => core.readNamespacedConfigMap({ name, namespace }));
  await call(round, "replaceCoreV1NamespacedConfigMap", () =>
    core.replaceNamespacedConfigMap({
      name,
      namespace,
      body: { ...body, data: { round: `${round}-replaced` } },
    }),
  );
  await call(round, "deleteCoreV1NamespacedConfigMap", () =>
    core.deleteNamespacedConfigMap({ name, namespace }),
  );
  await call(round, "listCoreV1NamespacedPod", () => core.listNamespacedPod({ namespace }));
  await call(round, "listCoreV1NamespacedEvent", () => core.listNamespacedEvent({ namespace }));
  if (rounds === 0 || round < rounds) await new Promise((resolve) => setTimeout(resolve, intervalMs));
}
console.log("in-cluster-client: done");
