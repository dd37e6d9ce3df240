/** @kubernetes/client-node against the rig as user `workload`: the same calls as the kubectl test, audited. */
import {
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  Watch,
} from "@kubernetes/client-node";
import { afterAll, describe, expect, it } from "vitest";
import { waitForAudit } from "./audit";
import { readRigState, rigKubeconfigPath } from "./rig";
import { missingCalls, rigTestObjects, uniqueNamespace } from "./test-objects";

const namespace = uniqueNamespace("rig-client-node");
const created = rigTestObjects(namespace, "created");
const applied = rigTestObjects(namespace, "applied");

const kc = new KubeConfig();
kc.loadFromFile(rigKubeconfigPath("workload"));
const api = KubernetesObjectApi.makeApiClient(kc);

function labelOf(object: KubernetesObject): string | undefined {
  return object.metadata?.labels?.["apisnoop.dev/rig-test"];
}

describe("@kubernetes/client-node against the rig", () => {
  afterAll(async () => {
    await api.delete(created.namespace).catch(() => undefined);
  });

  it("talks to the server named in the rig state", () => {
    expect(kc.getCurrentCluster()?.server).toBe(readRigState().server);
  });

  it("creates, reads and server-side-applies a Namespace, a ConfigMap and a Deployment", async () => {
    for (const object of [created.namespace, created.configMap, created.deployment]) {
      expect(labelOf(await api.create(object))).toBe("created");
    }
    for (const object of [created.namespace, created.configMap, created.deployment]) {
      expect(labelOf(await api.read(object))).toBe("created");
    }
    for (const object of [applied.namespace, applied.configMap, applied.deployment]) {
      const result = await api.patch(
        object,
        undefined,
        undefined,
        "rig-test",
        true,
        PatchStrategy.ServerSideApply,
      );
      expect(labelOf(result)).toBe("applied");
    }
    const cm = (await api.read(applied.configMap)) as KubernetesObject & { data?: Record<string, string> };
    expect(cm.data?.greeting).toBe("hello applied");
  });

  it("receives an event on a watch", async () => {
    const events: { phase: string; name: string }[] = [];
    let resolve: () => void = () => undefined;
    const received = new Promise<void>((r) => {
      resolve = r;
    });
    const controller = await new Watch(kc).watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      {},
      (phase, object: KubernetesObject) => {
        events.push({ phase, name: object.metadata?.name ?? "" });
        if (object.metadata?.name === "rig-watched") resolve();
      },
      () => undefined,
    );
    try {
      await api.create({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "rig-watched", namespace } });
      await received;
      expect(events).toContainEqual({ phase: "ADDED", name: "rig-watched" });
    } finally {
      controller.abort();
    }
  });

  it("deletes the Deployment, the ConfigMap and the Namespace", async () => {
    await api.delete(created.deployment);
    await api.delete(created.configMap);
    await api.delete(created.namespace);
    const list = await api.list("apps/v1", "Deployment", namespace);
    expect(list.items).toEqual([]);
  });

  it("finds every one of those requests in the audit log under user workload", async () => {
    const events = await waitForAudit("workload", (e) => missingCalls(e, namespace).length === 0).catch(
      () => null,
    );
    const mine = (events ?? []).filter(
      (e) => e.objectRef?.namespace === namespace || e.objectRef?.name === namespace,
    );
    expect(missingCalls(mine, namespace)).toEqual([]);
    // The audit policy logs bodies only for the configured resources.
    const requestResponse = new Set(readRigState().auditRequestResponse);
    for (const event of mine.filter((e) => e.stage === "ResponseComplete")) {
      const resource = event.objectRef?.apiGroup
        ? `${event.objectRef.apiGroup}/${event.objectRef.resource}`
        : event.objectRef?.resource;
      expect(event.level, `${event.verb} ${resource}`).toBe(
        requestResponse.has(resource ?? "") ? "RequestResponse" : "Metadata",
      );
    }
  });
});
