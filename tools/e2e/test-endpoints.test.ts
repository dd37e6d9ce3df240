import type { ApisnoopEndpoint } from "@apisnoop/openapi/testing";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import type { HitLine } from "@apisnoop/protocol";
import { describe, expect, it } from "vitest";
import { observedEndpointsByTest, publishedEndpointsByTest, rematchHits } from "./test-endpoints";

const T1 = "[sig-node] ConfigMap should run through a ConfigMap lifecycle [Conformance]";
const ua = (test?: string) => `e2e.test/v1.34.4 (linux/amd64) kubernetes/$Format${test ? ` -- ${test}` : ""}`;
const hit = (
  operationId: string | null,
  userAgent: string | null,
  extra: Partial<HitLine> = {},
): HitLine => ({
  ts: "2026-01-01T00:00:00.000Z",
  method: "GET",
  path: "/api/v1/x",
  query: "",
  status: 200,
  durationMs: 1,
  operationId,
  userAgent,
  ...extra,
});

describe("observedEndpointsByTest", () => {
  it("groups stable endpoints by the test in the user agent, whatever the status", () => {
    const observed = observedEndpointsByTest(
      [
        hit("createCoreV1Namespace", ua(T1)),
        hit("listCoreV1NamespacedConfigMap", ua(T1), { query: "watch=true" }),
        hit("readCoreV1NamespacedConfigMap", ua(T1), { status: 404 }),
        hit("createCoreV1Namespace", ua(T1)),
        hit("listCoreV1Node", ua()),
        hit("listCoreV1Node", "kubectl/v1.34.4"),
        hit("listCoreV1Node", null),
      ],
      sharedCatalog("1.34"),
    );
    expect([...(observed.byTest.get(T1) ?? [])].sort()).toEqual([
      "createCoreV1Namespace",
      "listCoreV1NamespacedConfigMap",
      "readCoreV1NamespacedConfigMap",
    ]);
    expect(observed.byTest.size).toBe(1);
    expect(observed.unattributedHits).toBe(3);
  });

  it("keeps alpha/beta, unknown and unmatched calls out of the sets, but reports them", () => {
    const observed = observedEndpointsByTest(
      [
        hit("createStoragemigrationV1alpha1StorageVersionMigration", ua(T1)),
        hit("createComExampleV1NamespacedFoo", ua(T1)),
        hit(null, ua(T1), { method: "GET", path: "/apis/nope", reason: "no such path" }),
      ],
      sharedCatalog("1.34"),
    );
    expect(observed.byTest.get(T1)).toBeUndefined();
    expect([...(observed.nonStableByTest.get(T1) ?? [])].sort()).toEqual([
      "createComExampleV1NamespacedFoo",
      "createStoragemigrationV1alpha1StorageVersionMigration",
    ]);
    expect([...(observed.unmatchedByTest.get(T1) ?? [])]).toEqual(["GET /apis/nope (no such path)"]);
  });
});

describe("publishedEndpointsByTest", () => {
  it("inverts endpoints[].tests for stable endpoints, skipping null test names", () => {
    const endpoint = (name: string, level: string, tests: (string | null)[]) =>
      ({ endpoint: name, level, tests }) as unknown as ApisnoopEndpoint;
    const byTest = publishedEndpointsByTest([
      endpoint("createCoreV1Namespace", "stable", [T1, "other"]),
      endpoint("readCoreV1NamespacedConfigMap", "stable", [T1]),
      endpoint("createResourceV1beta1DeviceClass", "beta", [T1]),
      endpoint("getCodeVersion", "stable", [null]),
    ]);
    expect([...(byTest.get(T1) ?? [])].sort()).toEqual([
      "createCoreV1Namespace",
      "readCoreV1NamespacedConfigMap",
    ]);
    expect([...(byTest.get("other") ?? [])]).toEqual(["createCoreV1Namespace"]);
    expect(byTest.size).toBe(2);
  });
});

describe("rematchHits", () => {
  it("matches a kept run's requests again, keeping what the release's spec does not describe", () => {
    const kept = [
      // Recorded by a matcher that sent a trailing slash to the {path} operation.
      hit("connectCoreV1GetNamespacedPodProxyWithPath", ua(T1), {
        path: "/api/v1/namespaces/n/pods/p/proxy/",
      }),
      hit("connectCoreV1GetNamespacedPodProxyWithPath", ua(T1), {
        path: "/api/v1/namespaces/n/pods/p/proxy/x",
      }),
      hit("listCoreV1NamespacedPod", ua(T1), { path: "/api/v1/namespaces/n/pods", query: "watch=true" }),
      // A CRD's resource: matched against the live spec when recorded, unknown to the release's.
      hit("listStableExampleComV1NamespacedWidget", ua(T1), {
        path: "/apis/stable.example.com/v1/namespaces/n/widgets",
      }),
    ];
    const { hits, changed } = rematchHits(kept, sharedCatalog("1.34"));
    expect(hits.map((h) => h.operationId)).toEqual([
      "connectCoreV1GetNamespacedPodProxy",
      "connectCoreV1GetNamespacedPodProxyWithPath",
      "listCoreV1NamespacedPod",
      "listStableExampleComV1NamespacedWidget",
    ]);
    expect(changed).toBe(1);
    expect(hits[2]).toBe(kept[2]);
  });
});
