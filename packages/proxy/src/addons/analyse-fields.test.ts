import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { CaptureBudget, type CapturedBody } from "../body-capture";
import type { Flow } from "../flow";
import { fakeMatch, matchedFlow, sharedSnapshot } from "../testing";
import { analyseFields, analyseFlowFields, WATCH_PREFIX_BYTES } from "./analyse-fields";
import { outcomeDetails } from "./describe-outcome";

const spec = sharedSnapshot("1.34");

function body(text: string, complete = true): CapturedBody {
  const captured = new CaptureBudget().capture(new PassThrough());
  captured.add(Buffer.from(text));
  captured.complete = complete;
  return captured;
}

function flowFor(
  method: string,
  url: string,
  operationId: string,
  request: { contentType?: string; body?: string } = {},
  response: { status?: number; body?: string; complete?: boolean } = {},
): Flow {
  const flow = matchedFlow(
    spec,
    {
      method,
      url,
      contentType: request.contentType ?? (request.body ? "application/json" : null),
      body: request.body === undefined ? null : body(request.body),
    },
    {
      response: {
        status: response.status ?? 200,
        contentType: "application/json",
        body: response.body === undefined ? null : body(response.body, response.complete ?? true),
      },
    },
  );
  if (flow.match?.operationId !== operationId) throw new Error(`${method} ${url} is not ${operationId}`);
  flow.details = outcomeDetails(flow);
  return flow;
}

const deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", labels: { app: "web" } },
  spec: {
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: { containers: [{ name: "web", image: "nginx:1.27", imagePullPolcy: "Always" }] },
    },
  },
};

describe("analyseFlowFields", () => {
  it("reads a create body against the operation's body schema and reports a typo'd field as unknown", () => {
    const flow = flowFor(
      "POST",
      "/apis/apps/v1/namespaces/default/deployments",
      "createAppsV1NamespacedDeployment",
      {
        body: JSON.stringify(deployment),
      },
    );
    const { request, response } = analyseFlowFields(flow);
    expect(request?.fields).toContain("io.k8s.api.apps.v1.Deployment:spec.template.spec.containers[].image");
    expect(request?.fields).toContain("io.k8s.api.apps.v1.Deployment:metadata.labels{}");
    expect([...(request?.unknown ?? [])]).toEqual([
      "io.k8s.api.apps.v1.Deployment:spec.template.spec.containers[].imagePullPolcy",
    ]);
    expect(response).toBeNull();
  });

  it("reads patches against the patched object, by patch type", () => {
    const op = "patchAppsV1NamespacedDeployment";
    const url = "/apis/apps/v1/namespaces/default/deployments/web";
    const merge = analyseFlowFields(
      flowFor("PATCH", url, op, {
        contentType: "application/merge-patch+json",
        body: '{"spec":{"replicas":3}}',
      }),
    );
    expect([...(merge.request?.fields ?? [])]).toEqual([
      "io.k8s.api.apps.v1.Deployment:spec",
      "io.k8s.api.apps.v1.Deployment:spec.replicas",
    ]);
    const strategic = analyseFlowFields(
      flowFor("PATCH", url, op, {
        contentType: "application/strategic-merge-patch+json",
        body: '{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"name":"web","image":"x"}]}}}}',
      }),
    );
    expect(strategic.request?.fields).toContain(
      "io.k8s.api.apps.v1.Deployment:spec.template.spec.containers[].image",
    );
    expect(strategic.request?.unknown.size).toBe(0);
    const jsonPatch = analyseFlowFields(
      flowFor("PATCH", url, op, {
        contentType: "application/json-patch+json",
        body: '[{"op":"replace","path":"/spec/replicas","value":1},{"op":"add","path":"/spec/nope","value":1}]',
      }),
    );
    expect(jsonPatch.request?.fields).toContain("io.k8s.api.apps.v1.Deployment:spec.replicas");
    expect([...(jsonPatch.request?.unknown ?? [])]).toEqual(["io.k8s.api.apps.v1.Deployment:spec.nope"]);
    const apply = analyseFlowFields(
      flowFor("PATCH", `${url}?fieldManager=kubectl`, op, {
        contentType: "application/apply-patch+yaml",
        body: "apiVersion: apps/v1\nkind: Deployment\nspec:\n  paused: true\n",
      }),
    );
    expect(apply.request?.fields).toContain("io.k8s.api.apps.v1.Deployment:spec.paused");
  });

  it("reads each item of a list and each object of a watch (whole lines only), as the item kind", () => {
    const list = JSON.stringify({
      kind: "PodList",
      metadata: { resourceVersion: "1" },
      items: [
        { metadata: { name: "a" }, spec: { nodeName: "n", containers: [] } },
        { status: { podIP: "10.0.0.1" } },
      ],
    });
    const listed = analyseFlowFields(
      flowFor("GET", "/api/v1/namespaces/default/pods", "listCoreV1NamespacedPod", {}, { body: list }),
    );
    expect([...(listed.response?.fields ?? [])].sort()).toEqual([
      "io.k8s.api.core.v1.Pod:metadata",
      "io.k8s.api.core.v1.Pod:metadata.name",
      "io.k8s.api.core.v1.Pod:spec",
      "io.k8s.api.core.v1.Pod:spec.containers",
      "io.k8s.api.core.v1.Pod:spec.nodeName",
      "io.k8s.api.core.v1.Pod:status",
      "io.k8s.api.core.v1.Pod:status.podIP",
    ]);
    const events = `${JSON.stringify({ type: "ADDED", object: { spec: { hostname: "h" } } })}\n${JSON.stringify(
      {
        type: "BOOKMARK",
        object: { metadata: { resourceVersion: "2" } },
      },
    )}\n{"type":"MODIFIED","object":{"spec":{"subdo`;
    const watched = analyseFlowFields(
      flowFor(
        "GET",
        "/api/v1/namespaces/default/pods?watch=true",
        "listCoreV1NamespacedPod",
        {},
        { body: events, complete: false },
      ),
    );
    expect([...(watched.response?.fields ?? [])].sort()).toEqual([
      "io.k8s.api.core.v1.Pod:spec",
      "io.k8s.api.core.v1.Pod:spec.hostname",
    ]);
  });

  it("skips bodies it cannot read and unmatched flows, without throwing", () => {
    const op = "createAppsV1NamespacedDeployment";
    const url = "/apis/apps/v1/namespaces/default/deployments";
    expect(analyseFlowFields(flowFor("POST", url, op, { body: "{not json" })).request).toBeNull();
    const unmatched = flowFor("POST", url, op, { body: "{}" });
    unmatched.match = fakeMatch(null, { reason: "no such path" });
    expect(analyseFlowFields(unmatched)).toEqual({ request: null, response: null });
  });
});

describe("analyseFields addon", () => {
  it("captures and reads the first N responses per endpoint and source each minute, and every request", async () => {
    const addon = analyseFields(new CaptureBudget(), 2);
    const list = JSON.stringify({ items: [{ spec: { nodeName: "n" } }] });
    /** A list call through the addon's hooks, its response body streamed past after the head. */
    const listCall = async (minutesLater = 0): Promise<Flow> => {
      const flow = matchedFlow(spec, { url: "/api/v1/namespaces/default/pods" });
      flow.startedAt += minutesLater * 60_000;
      const download = new PassThrough();
      flow.response = { status: 200, contentType: "application/json", bodyStream: download };
      addon.response?.(flow);
      download.end(list);
      await new Promise((resolve) => setImmediate(resolve));
      addon.done?.(flow);
      return flow;
    };
    const flows: Flow[] = [];
    for (let i = 0; i < 4; i++) flows.push(await listCall());
    expect(flows.map((flow) => flow.fields?.response?.fields.size ?? 0)).toEqual([2, 2, 0, 0]);
    // Past the sample, nothing is even captured.
    expect(flows.map((flow) => flow.response?.body != null)).toEqual([true, true, false, false]);
    const create = flowFor(
      "POST",
      "/apis/apps/v1/namespaces/default/deployments",
      "createAppsV1NamespacedDeployment",
      {
        body: JSON.stringify(deployment),
      },
    );
    addon.done?.(create);
    expect(create.fields?.request?.unknown.size).toBe(1);
    const next = await listCall(1); // a new minute
    expect(next.fields?.response?.fields.size).toBe(2);
  });

  it("sets the flow's fields at done, reading the flow's own spec", () => {
    const flow = flowFor(
      "POST",
      "/apis/apps/v1/namespaces/default/deployments",
      "createAppsV1NamespacedDeployment",
      {
        body: JSON.stringify(deployment),
      },
    );
    analyseFields(new CaptureBudget()).done?.(flow);
    expect(flow.fields?.request?.unknown.size).toBe(1);
    const before = flowFor(
      "POST",
      "/apis/apps/v1/namespaces/default/deployments",
      "createAppsV1NamespacedDeployment",
      {
        body: "{}",
      },
    );
    const noSpec: Flow = { ...before, spec: null };
    analyseFields(new CaptureBudget()).done?.(noSpec);
    expect(noSpec.fields).toBeNull();
  });

  it("captures a write's request body at request and a read's response at the response head", async () => {
    const addon = analyseFields(new CaptureBudget());
    const upload = new PassThrough();
    const create = matchedFlow(spec, {
      method: "POST",
      url: "/apis/apps/v1/namespaces/default/deployments",
      contentType: "application/json",
      bodyStream: upload,
    });
    addon.request?.(create);
    upload.end(JSON.stringify(deployment));
    const download = new PassThrough();
    const get = matchedFlow(spec, { url: "/apis/apps/v1/namespaces/default/deployments/web" });
    get.response = { status: 200, contentType: "application/json", bodyStream: download };
    addon.response?.(get);
    download.end(JSON.stringify(deployment));
    const table = matchedFlow(spec, { url: "/apis/apps/v1/namespaces/default/deployments" });
    table.response = { status: 200, contentType: "application/json;as=Table;v=v1;g=meta.k8s.io" };
    table.response.bodyStream = new PassThrough();
    addon.response?.(table);
    await new Promise((resolve) => setImmediate(resolve)); // a stream's listeners start on the next tick
    expect(create.request.body?.bytes).toBe(JSON.stringify(deployment).length);
    expect(get.response.body?.complete).toBe(true);
    expect(table.response.body ?? null).toBeNull();
    addon.done?.(create);
    addon.done?.(get);
    expect(create.fields?.request?.unknown.size).toBe(1);
    expect(get.fields?.response?.fields).toContain(
      "io.k8s.api.apps.v1.Deployment:spec.template.spec.containers[].image",
    );
  });

  it("keeps only the first events of a watch, matched as one before capture starts", async () => {
    const events = new PassThrough();
    const watch = matchedFlow(spec, { url: "/api/v1/namespaces/default/pods?watch=true" });
    watch.response = { status: 200, contentType: "application/json", bodyStream: events };
    analyseFields(new CaptureBudget()).response?.(watch);
    const line = `${JSON.stringify({ type: "ADDED", object: { spec: { hostname: "h" } } })}\n`;
    for (let written = 0; written <= WATCH_PREFIX_BYTES; written += line.length) events.write(line);
    await new Promise((resolve) => setImmediate(resolve));
    expect(watch.response.body?.truncated).toBe(true);
    expect(watch.response.body?.skipped).toBeNull();
    expect(watch.response.body?.bytes).toBeLessThanOrEqual(WATCH_PREFIX_BYTES);
  });
});
