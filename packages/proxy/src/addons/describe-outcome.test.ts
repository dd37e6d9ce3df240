import { PassThrough } from "node:stream";
import { sharedCatalog } from "@apisnoop/openapi/testing";
import { describe, expect, it } from "vitest";
import { CaptureBudget } from "../body-capture";
import { fakeFlow } from "../testing";
import { outcomeDetails, subresourceOf } from "./describe-outcome";

const catalog = sharedCatalog("1.34");
const endpoint = (id: string) => catalog.byOperationId.get(id) ?? null;

describe("outcomeDetails", () => {
  it("names watch, dryRun, the patch type and the subresource", () => {
    const patch = fakeFlow(
      {
        method: "PATCH",
        url: "/api/v1/namespaces/d/pods/p/status?dryRun=All&fieldManager=x",
        contentType: "application/strategic-merge-patch+json",
      },
      { match: { operationId: "patchCoreV1NamespacedPodStatus" } },
    );
    expect(outcomeDetails(patch, endpoint("patchCoreV1NamespacedPodStatus"))).toEqual([
      "dryRun",
      "patch:strategic",
      "subresource:status",
    ]);
    const watch = fakeFlow(
      { url: "/api/v1/pods?watch=1" },
      { match: { operationId: "listCoreV1PodForAllNamespaces" } },
    );
    expect(outcomeDetails(watch, endpoint("listCoreV1PodForAllNamespaces"))).toEqual(["watch"]);
    const oldWatch = fakeFlow(
      { url: "/api/v1/watch/pods" },
      { match: { operationId: "watchCoreV1PodListForAllNamespaces", detail: "deprecated watch path" } },
    );
    expect(outcomeDetails(oldWatch, null)).toEqual(["deprecated watch path"]);
  });

  it("says why fields were not analysed: protobuf, a body over the cap", () => {
    const protobuf = fakeFlow(
      {
        method: "POST",
        url: "/api/v1/namespaces/d/configmaps",
        contentType: "application/vnd.kubernetes.protobuf",
      },
      { response: { status: 201, contentType: "application/vnd.kubernetes.protobuf" } },
    );
    expect(outcomeDetails(protobuf, null)).toEqual(["fields not analysed: protobuf"]);
    const big = new CaptureBudget(10).capture(new PassThrough());
    big.add(Buffer.alloc(11));
    const large = fakeFlow({ method: "POST", url: "/api/v1/namespaces", body: big });
    expect(outcomeDetails(large, null)).toEqual(["fields not analysed: too large"]);
  });
});

describe("subresourceOf", () => {
  it("finds the segment after {name}, and none for collections and objects", () => {
    expect(subresourceOf("/api/v1/namespaces/{namespace}/pods/{name}/log")).toBe("log");
    expect(subresourceOf("/api/v1/namespaces/{namespace}/services/{name}/proxy/{path}")).toBe("proxy");
    expect(subresourceOf("/api/v1/namespaces/{namespace}/pods/{name}")).toBeNull();
    expect(subresourceOf("/api/v1/namespaces/{namespace}/pods")).toBeNull();
  });
});
