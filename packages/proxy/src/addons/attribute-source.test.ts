import { describe, expect, it } from "vitest";
import type { PodIdentity } from "../pod-directory";
import { fakeFlow } from "../testing";
import { attributeSource } from "./attribute-source";

const pod: PodIdentity = {
  namespace: "addons",
  pod: "cert-manager-7d9f-abcde",
  serviceAccount: "cert-manager",
  chart: "cert-manager-v1.15.0",
  helmRelease: "cm",
  managedBy: "Helm",
  sourceName: null,
  owner: "ReplicaSet/cert-manager-7d9f",
};

describe("attributeSource", () => {
  it("takes the e2e test name and conformance flag from an e2e user agent", () => {
    const flow = fakeFlow({
      userAgent:
        "e2e.test/v1.34.0 (linux/amd64) kubernetes/abc -- [sig-apps] Deployment should roll [Conformance]",
    });
    attributeSource(null).request?.(flow);
    expect(flow.source).toMatchObject({
      e2eTest: "[sig-apps] Deployment should roll [Conformance]",
      conformance: true,
      name: null,
      pod: null,
    });
  });

  it("names the source after the X-Apisnoop-Source header, over the pod's annotation", () => {
    const addon = attributeSource({ lookup: () => ({ ...pod, sourceName: "from-annotation" }) });
    const flow = fakeFlow({ sourceHeader: "my-operator", remoteAddress: "10.0.0.5" });
    addon.request?.(flow);
    expect(flow.source).toMatchObject({
      name: "my-operator",
      namespace: "addons",
      chart: "cert-manager-v1.15.0",
    });
    const annotated = fakeFlow({ remoteAddress: "10.0.0.5" });
    addon.request?.(annotated);
    expect(annotated.source?.name).toBe("from-annotation");
  });

  it("counts every source under the proxy's cluster, and its run: header, else annotation, else --run", () => {
    const place = { cluster: "ci-east", run: "main-1234" };
    const addon = attributeSource(
      { lookup: (ip) => (ip === "10.0.0.5" ? { ...pod, run: "from-annotation" } : null) },
      place,
    );
    const [header, annotated, plain] = [
      fakeFlow({ runHeader: " pr-42 ", remoteAddress: "10.0.0.5" }),
      fakeFlow({ remoteAddress: "10.0.0.5" }),
      fakeFlow({ remoteAddress: "10.9.9.9" }),
    ];
    for (const flow of [header, annotated, plain]) addon.request?.(flow);
    expect(header.source).toMatchObject({ cluster: "ci-east", run: "pr-42", pod: pod.pod });
    expect(annotated.source).toMatchObject({ cluster: "ci-east", run: "from-annotation" });
    expect(plain.source).toMatchObject({ cluster: "ci-east", run: "main-1234", pod: null });
    // Without a place the source names neither.
    const bare = fakeFlow({});
    attributeSource(null).request?.(bare);
    expect(bare.source).toMatchObject({ cluster: null, run: null });
  });

  it("adds the pod behind the client address, and reuses one source object per client", () => {
    const seen: string[] = [];
    const addon = attributeSource({
      lookup: (ip) => {
        seen.push(ip);
        return ip === "10.0.0.5" ? pod : null;
      },
    });
    const [a, b, c] = [
      fakeFlow({ remoteAddress: "10.0.0.5" }),
      fakeFlow({ remoteAddress: "10.0.0.5" }),
      fakeFlow({ remoteAddress: "10.9.9.9" }),
    ];
    for (const flow of [a, b, c]) addon.request?.(flow);
    expect(seen).toEqual(["10.0.0.5", "10.0.0.5", "10.9.9.9"]);
    expect(a.source).toMatchObject({
      namespace: "addons",
      pod: pod.pod,
      serviceAccount: "cert-manager",
      helmRelease: "cm",
      managedBy: "Helm",
    });
    expect(b.source).toBe(a.source);
    expect(c.source).toMatchObject({ namespace: null, pod: null, userAgent: "kubectl/v1.34.0" });
  });
});
