import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { CaptureBudget } from "../body-capture";
import { fakeFlow, matchedFlow, sharedSnapshot } from "../testing";
import { outcomeDetails, subresourceOf } from "./describe-outcome";

const spec = sharedSnapshot("1.34");

describe("outcomeDetails", () => {
  it("names watch, dryRun, the patch type and the subresource", () => {
    const patch = matchedFlow(spec, {
      method: "PATCH",
      url: "/api/v1/namespaces/d/pods/p/status?dryRun=All&fieldManager=x",
      contentType: "application/strategic-merge-patch+json",
    });
    expect(patch.match?.operationId).toBe("patchCoreV1NamespacedPodStatus");
    expect(outcomeDetails(patch)).toEqual(["dryRun", "patch:strategic", "subresource:status"]);
    const watch = matchedFlow(spec, { url: "/api/v1/pods?watch=1" });
    expect(watch.match?.operationId).toBe("listCoreV1PodForAllNamespaces");
    expect(outcomeDetails(watch)).toEqual(["watch"]);
    const oldWatch = matchedFlow(spec, { url: "/api/v1/watch/pods" });
    expect(oldWatch.match?.operationId).toBe("watchCoreV1PodListForAllNamespaces");
    expect(outcomeDetails(oldWatch)).toEqual(["deprecated watch path"]);
    // Still a watch when the path is unknown to the spec; a watch query on one object's read is a read.
    expect(outcomeDetails(matchedFlow(spec, { url: "/apis/x.example.com/v1/things?watch=true" }))).toEqual([
      "watch",
    ]);
    expect(outcomeDetails(matchedFlow(spec, { url: "/api/v1/namespaces/d/pods/p?watch=true" }))).toEqual([]);
  });

  it("names the subresource without field analysis (--body-cap 0 captures nothing)", () => {
    const log = matchedFlow(spec, { url: "/api/v1/namespaces/d/pods/p/log?container=c" });
    expect(outcomeDetails(log)).toEqual(["subresource:log"]);
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
    expect(outcomeDetails(protobuf)).toEqual(["fields not analysed: protobuf"]);
    const big = new CaptureBudget(10).capture(new PassThrough());
    big.add(Buffer.alloc(11));
    const large = fakeFlow({ method: "POST", url: "/api/v1/namespaces", body: big });
    expect(outcomeDetails(large)).toEqual(["fields not analysed: too large"]);
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
