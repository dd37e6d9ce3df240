import { describe, expect, it } from "vitest";
import { fakeFlow, sharedSnapshot } from "../testing";
import { matchOperation } from "./match-operation";

describe("matchOperation", () => {
  it("matches at the response head, against the flow's own spec snapshot, once", () => {
    const spec = sharedSnapshot("1.34");
    const addon = matchOperation();
    expect(addon.request).toBeUndefined(); // never before the request is forwarded
    const flow = fakeFlow({ url: "/api/v1/namespaces?watch=true" }, { spec });
    addon.response?.(flow);
    expect(flow.match).toMatchObject({ operationId: "listCoreV1Namespace", watch: true, detail: "watch" });
    expect(flow.match?.endpoint).toBe(spec.catalog.byOperationId.get("listCoreV1Namespace"));
    const first = flow.match;
    addon.complete?.(flow);
    expect(flow.match).toBe(first);
  });

  it("matches at completion a flow that never got a response head", () => {
    const flow = fakeFlow({ url: "/api/v1/namespaces" }, { spec: sharedSnapshot("1.34") });
    matchOperation().complete?.(flow);
    expect(flow.match?.operationId).toBe("listCoreV1Namespace");
  });

  it("uses the snapshot each flow started with, so a refreshed spec applies to new flows only", () => {
    const addon = matchOperation();
    const url = "/apis/resource.k8s.io/v1/deviceclasses";
    const older = fakeFlow({ url }, { spec: sharedSnapshot("1.33") });
    const newer = fakeFlow({ url }, { spec: sharedSnapshot("1.34") });
    addon.response?.(older);
    addon.response?.(newer);
    expect([older.match?.operationId ?? null, newer.match?.operationId]).toEqual([
      null,
      "listResourceV1DeviceClass",
    ]);
  });

  it("leaves the flow unmatched, with a reason, before any spec is loaded", () => {
    const flow = fakeFlow({ url: "/api/v1/namespaces?watch=1" });
    matchOperation().complete?.(flow);
    expect(flow.match).toEqual({ endpoint: null, operationId: null, watch: true, reason: "no spec loaded" });
  });
});
