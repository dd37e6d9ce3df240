/**
 * Real clients through the proxy against the rig: @kubernetes/client-node via `proxy-url` (list, watch,
 * create, delete), a 5,000-ConfigMap list and a 3 MiB request body intact, and `kubectl exec` (an upgrade
 * the rig answers with an error: it has no nodes) reaching the apiserver in both modes.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import https from "node:https";
import {
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  Watch,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRigState, rigKubeconfigPath, rigToken } from "../../../tools/rig/rig";
import { UNSCHEDULED } from "../../../tools/rig/test-objects";
import { type RigProxy, startRigProxy } from "../../../tools/rig-proxy/rig-proxy";

let rig: RigProxy;
const ns = `proxy-clients-${Date.now().toString(36)}`;

function clientFor(kubeconfig: string) {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { kc, objects: KubernetesObjectApi.makeApiClient(kc), core: kc.makeApiClient(CoreV1Api) };
}

let direct: ReturnType<typeof clientFor>;
let proxied: ReturnType<typeof clientFor>;

beforeAll(async () => {
  rig = await startRigProxy("admin");
  direct = clientFor(rigKubeconfigPath("workload"));
  proxied = clientFor(rig.kubeconfig("workload", "forward"));
  await direct.objects.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
});

afterAll(async () => {
  await direct?.objects
    .delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } })
    .catch(() => undefined);
  await rig?.close();
});

/** GET/POST on the rig with the workload token, direct or through the proxy (reverse), whole body back. */
function raw(
  via: "direct" | "proxy",
  method: string,
  path: string,
  body?: Buffer,
): Promise<{ status: number; body: Buffer }> {
  const base = via === "direct" ? readRigState().server : rig.proxy.url;
  const ca = via === "direct" ? undefined : rig.proxy.ca.certificatePem;
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(path, base),
      {
        method,
        ca: ca ?? readCa(),
        headers: {
          authorization: `Bearer ${rigToken("workload")}`,
          accept: "application/json",
          ...(body ? { "content-type": "application/json", "content-length": body.length } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

let rigCa: Buffer | undefined;
function readCa(): Buffer {
  rigCa ??= readFileSync(readRigState().caFile);
  return rigCa;
}

describe("@kubernetes/client-node through proxy-url", () => {
  it("creates, lists and deletes a ConfigMap through the proxy", async () => {
    const before = (await rig.hits()).length;
    const cm = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "from-client-node", namespace: ns },
      data: { a: "1" },
    };
    const created = (await proxied.objects.create(cm)) as KubernetesObject;
    expect(created.metadata?.uid).toBeTruthy();
    const list = await proxied.core.listNamespacedConfigMap({ namespace: ns });
    expect(list.items.map((item) => item.metadata?.name)).toContain("from-client-node");
    await proxied.objects.delete(cm);
    const after = await direct.core.listNamespacedConfigMap({ namespace: ns });
    expect(after.items.map((item) => item.metadata?.name)).not.toContain("from-client-node");
    // client-node also asks for discovery (getCoreV1APIResources): wait for the three calls themselves.
    let hits = (await rig.hits(before + 3)).slice(before);
    for (
      let i = 0;
      i < 50 && !hits.some((hit) => hit.operationId === "deleteCoreV1NamespacedConfigMap");
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      hits = (await rig.hits()).slice(before);
    }
    expect(hits.map((hit) => hit.operationId)).toEqual(
      expect.arrayContaining([
        "createCoreV1NamespacedConfigMap",
        "listCoreV1NamespacedConfigMap",
        "deleteCoreV1NamespacedConfigMap",
      ]),
    );
  });

  it("delivers watch events within 100 ms of a direct watch seeing them", async () => {
    const arrivals: Record<"direct" | "proxied", number | null> = { direct: null, proxied: null };
    const open = async (which: "direct" | "proxied") => {
      const { kc } = which === "direct" ? direct : proxied;
      return new Watch(kc).watch(
        `/api/v1/namespaces/${ns}/configmaps`,
        {},
        (phase, object: KubernetesObject) => {
          if (phase === "ADDED" && object.metadata?.name === "watched" && arrivals[which] === null) {
            arrivals[which] = performance.now();
          }
        },
        () => undefined,
      );
    };
    const watches = await Promise.all([open("direct"), open("proxied")]);
    try {
      await new Promise((resolve) => setTimeout(resolve, 500)); // both watches established
      await direct.objects.create({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "watched", namespace: ns },
      });
      const deadline = Date.now() + 10_000;
      while ((arrivals.direct === null || arrivals.proxied === null) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(arrivals.direct).not.toBeNull();
      expect(arrivals.proxied).not.toBeNull();
      expect((arrivals.proxied ?? 0) - (arrivals.direct ?? 0)).toBeLessThan(100);
    } finally {
      for (const watch of watches) watch.abort();
    }
  });
});

describe("large payloads through the proxy", () => {
  it("lists 5,000 ConfigMaps exactly as the apiserver sends them", async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 16, ca: readCa() });
    const names = Array.from({ length: 5000 }, (_, i) => `bulk-${String(i).padStart(4, "0")}`);
    let next = 0;
    const worker = async () => {
      while (next < names.length) {
        const name = names[next++] as string;
        const body = Buffer.from(
          JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data: { i: name } }),
        );
        await new Promise<void>((resolve, reject) => {
          const req = https.request(
            new URL(`/api/v1/namespaces/${ns}/configmaps`, readRigState().server),
            {
              method: "POST",
              agent,
              headers: {
                authorization: `Bearer ${rigToken("workload")}`,
                "content-type": "application/json",
                "content-length": body.length,
              },
            },
            (res) => {
              res.resume();
              res.on("end", () =>
                res.statusCode === 201 ? resolve() : reject(new Error(`create ${name}: ${res.statusCode}`)),
              );
            },
          );
          req.on("error", reject);
          req.end(body);
        });
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    agent.destroy();

    const viaProxy = await raw("proxy", "GET", `/api/v1/namespaces/${ns}/configmaps?labelSelector=`);
    const viaDirect = await raw("direct", "GET", `/api/v1/namespaces/${ns}/configmaps?labelSelector=`);
    expect(viaProxy.status).toBe(200);
    const items = (body: Buffer) =>
      (JSON.parse(body.toString()) as { items: { metadata: { name: string } }[] }).items;
    const proxiedNames = items(viaProxy.body).map((item) => item.metadata.name);
    expect(proxiedNames.filter((name) => name.startsWith("bulk-"))).toHaveLength(5000);
    // No ConfigMap changed in between: the items must be identical (the list's own resourceVersion moves
    // with any write in the cluster).
    const itemsJson = (body: Buffer) => JSON.stringify(items(body));
    expect(createHash("sha256").update(itemsJson(viaProxy.body)).digest("hex")).toBe(
      createHash("sha256").update(itemsJson(viaDirect.body)).digest("hex"),
    );
    expect(viaProxy.body.length).toBeGreaterThan(1024 * 1024);
  }, 240_000);

  it("passes a 3 MiB request body intact (the apiserver echoes it back on a dry run)", async () => {
    // A Deployment: ConfigMaps and Secrets cap their data at 1 MiB, an env value has no cap of its own, and a
    // dry run never reaches etcd's 1.5 MiB object limit. The apiserver's limit is 3 MiB per request body.
    const value = "x".repeat(3 * 1024 * 1024 - 2048);
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "big", namespace: ns },
      spec: {
        selector: { matchLabels: { app: "big" } },
        template: {
          metadata: { labels: { app: "big" } },
          spec: {
            containers: [{ name: "c", image: "registry.k8s.io/pause:3.10", env: [{ name: "BIG", value }] }],
          },
        },
      },
    };
    const body = Buffer.from(JSON.stringify(deployment));
    expect(body.length).toBeGreaterThan(3 * 1024 * 1024 - 2048);
    const { status, body: answer } = await raw(
      "proxy",
      "POST",
      `/apis/apps/v1/namespaces/${ns}/deployments?dryRun=All`,
      body,
    );
    expect(status).toBe(201);
    const echoed = JSON.parse(answer.toString()) as typeof deployment;
    const echoedValue = echoed.spec.template.spec.containers[0]?.env[0]?.value ?? "";
    expect(echoedValue.length).toBe(value.length);
    expect(createHash("sha256").update(echoedValue).digest("hex")).toBe(
      createHash("sha256").update(value).digest("hex"),
    );
  });
});

describe("kubectl exec through the proxy", () => {
  function kubectl(
    kubeconfig: string,
    args: string[],
    env: Record<string, string> = {},
  ): Promise<{ out: string; status: number | null }> {
    return new Promise((resolve) => {
      const child = spawn("kubectl", ["--kubeconfig", kubeconfig, ...args], {
        env: { ...process.env, ...env },
        timeout: 30_000,
      });
      let out = "";
      child.stdout.on("data", (chunk) => {
        out += chunk;
      });
      child.stderr.on("data", (chunk) => {
        out += chunk;
      });
      child.on("close", (status) => resolve({ out, status }));
      child.stdin.end();
    });
  }

  it("reaches the apiserver over WebSocket and SPDY in both modes and returns its answer; the command stays out of the hits", async () => {
    const admin = rigKubeconfigPath("admin");
    await kubectl(admin, ["create", "serviceaccount", "default", "-n", ns]);
    const run = await kubectl(admin, [
      "run",
      "target",
      "-n",
      ns,
      "--image=registry.k8s.io/pause:3.10",
      "--restart=Never",
      // Unscheduled, so the answer is the same with or without a node: the pod has no host.
      `--overrides={"spec":{"schedulerName":"${UNSCHEDULED}"}}`,
    ]);
    expect(run.status).toBe(0);
    // A command line with a credential in it: the hits keep that a command was given, never what it said.
    const secret = `hunter2-${createHash("sha256").update(String(Math.random())).digest("hex").slice(0, 12)}`;
    const args = ["exec", "-n", ns, "target", "--", "mysql", `--password=${secret}`];
    const expected = await kubectl(admin, args);
    expect(expected.out).toContain("does not have a host assigned");
    const before = (await rig.hits()).length;
    for (const mode of ["reverse", "forward"] as const) {
      for (const env of [{}, { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: "false" }] as Record<string, string>[]) {
        const viaProxy = await kubectl(rig.kubeconfig("admin", mode), args, env);
        expect({ mode, env, ...viaProxy }).toEqual({ mode, env, ...expected });
      }
    }
    const execHits = (await rig.hits(before + 4)).slice(before).filter((hit) => hit.path.endsWith("/exec"));
    expect(execHits.map((hit) => hit.operationId)).toContain("connectCoreV1PostNamespacedPodExec");
    expect(execHits.map((hit) => hit.operationId)).toContain("connectCoreV1GetNamespacedPodExec");
    for (const hit of execHits) expect(hit.status).toBe(400);
    for (const hit of execHits) expect(hit.query.split("&")).toContain("command");
    expect(readFileSync(rig.hitsPath, "utf8")).not.toContain(secret);
    expect(readFileSync(rig.logPath, "utf8")).not.toContain(secret);
  });
});
