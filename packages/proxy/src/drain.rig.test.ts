/**
 * A drain ends watches the way the apiserver ends them at their timeout. Two proxies in front of the rig
 * share one CA behind one address (a TCP balancer, as the chart's Service is in front of its two pods;
 * it passes each new connection to the next proxy that accepts it). A client-node informer and
 * `kubectl get -w` watch ConfigMaps through the first proxy; it drains. kubectl's watch ends as a complete
 * response (exit 0, nothing on stderr); the informer reports no error, keeps its cache, and watches again
 * through the second proxy from its last resourceVersion, without listing again.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { sharedSpecPath } from "@apisnoop/openapi/testing";
import { CoreV1Api, KubeConfig, makeInformer, type V1ConfigMap } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../tools/net/free-port";
import { startTcpBalancer, type TcpBalancer } from "../../../tools/net/tcp-balancer";
import { rigKubeconfigPath } from "../../../tools/rig/rig";
import { uniqueNamespace, until } from "../../../tools/rig/test-objects";
import { type RigProxy, startRigProxy } from "../../../tools/rig-proxy/rig-proxy";
import { proxiedKubeconfig } from "./proxied-kubeconfig";

const ns = uniqueNamespace("proxy-drain");
const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-drain-"));
const caDir = path.join(dir, "ca");
const spec = sharedSpecPath("1.34");
let first: RigProxy;
let second: RigProxy | null = null;
let balancer: TcpBalancer;
let secondPort: number;
let kubeconfig: string;
const direct = new KubeConfig();
direct.loadFromFile(rigKubeconfigPath("workload"));
const directApi = direct.makeApiClient(CoreV1Api);

beforeAll(async () => {
  first = await startRigProxy("admin", spec, { caDir });
  // The second proxy's port is taken only later: until then the balancer finds it refusing, and every
  // connection goes to the first.
  secondPort = await freePort();
  balancer = await startTcpBalancer([Number(new URL(first.proxy.url).port), secondPort]);
  kubeconfig = path.join(dir, "kubeconfig");
  writeFileSync(
    kubeconfig,
    proxiedKubeconfig({
      from: rigKubeconfigPath("workload"),
      proxyUrl: `https://127.0.0.1:${balancer.port}`,
      mode: "reverse",
      caPem: first.proxy.ca.certificatePem,
    }),
    { mode: 0o600 },
  );
  await directApi.createNamespace({ body: { metadata: { name: ns } } });
}, 120_000);

afterAll(async () => {
  await directApi.deleteNamespace({ name: ns }).catch(() => undefined);
  await balancer?.close();
  await Promise.all([first?.close(), second?.close()]);
});

function configMap(name: string): Promise<V1ConfigMap> {
  return directApi.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name } } });
}

/** `kubectl get -w` through the balancer: its output, and its exit. */
function kubectlWatch(): {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
} {
  // -v=1: client-go logs "Unexpected EOF during watch stream event decoding" when a watch is cut.
  const child = spawn("kubectl", [
    "--kubeconfig",
    kubeconfig,
    "-v=1",
    "get",
    "configmaps",
    "-n",
    ns,
    "-w",
    "-o",
    "name",
  ]);
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

describe("a drain ends watches between events", () => {
  it("lets a client-node informer and kubectl get -w end cleanly and watch again elsewhere", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const api = kc.makeApiClient(CoreV1Api);
    const informer = makeInformer<V1ConfigMap>(kc, `/api/v1/namespaces/${ns}/configmaps`, () =>
      api.listNamespacedConfigMap({ namespace: ns }),
    );
    const errors: unknown[] = [];
    const added: string[] = [];
    informer.on("error", (error) => errors.push(error));
    informer.on("add", (object) => added.push(object.metadata?.name ?? ""));
    await informer.start();
    const kubectl = kubectlWatch();
    try {
      // Both watches are open at the first proxy (kubectl's discovery calls come and go before its watch).
      await until(
        "both watches at the first proxy",
        () => (first.proxy.metrics.inFlight >= 2 ? true : null),
        60_000,
      );
      second = await startRigProxy("admin", spec, { caDir, listen: { host: "127.0.0.1", port: secondPort } });
      await configMap("before");
      await until("the informer sees 'before'", () => (added.includes("before") ? true : null), 20_000);
      await until(
        "kubectl sees 'before'",
        () => (kubectl.out().includes("configmap/before") ? true : null),
        20_000,
      );

      const summary = await first.proxy.drain(15_000);
      expect(summary).toMatchObject({ watchesEnded: 2, watchesCut: 0, cut: 0 });
      // kubectl get -w stops when its watch ends: complete, so no error and exit 0.
      expect(await kubectl.exit).toBe(0);
      expect(kubectl.err()).toBe("");

      await configMap("after");
      await until("the informer sees 'after'", () => (added.includes("after") ? true : null), 30_000);
      expect(errors).toEqual([]);
      const cached = informer.list(ns).map((object) => object.metadata?.name);
      expect(cached).toEqual(expect.arrayContaining(["before", "after"]));
      // Its new watch went through the second proxy, from the resourceVersion it had: no list again.
      // (A watch is written to hits.jsonl when it ends.)
      expect(second.proxy.metrics.inFlight).toBe(1);
      await informer.stop();
      const hits = (await second.hits(1)).filter((hit) => hit.path === `/api/v1/namespaces/${ns}/configmaps`);
      expect(hits.length).toBeGreaterThanOrEqual(1);
      for (const hit of hits) {
        expect(hit.details).toContain("watch");
        expect(hit.query).toMatch(/resourceVersion=\d+/);
      }
    } finally {
      await informer.stop();
      kubectl.child.kill();
    }
  }, 180_000);
});
