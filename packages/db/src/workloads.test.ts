import { sourceFromUserAgent } from "@apisnoop/protocol";
import { describe, expect, it } from "vitest";
import { workloadOf } from "./workloads";

describe("workloadOf", () => {
  const ua = (userAgent: string) => sourceFromUserAgent(userAgent);

  it("names the chart, else the namespace and service account, else the user agent's product", () => {
    const pod = { ...ua("controller/1.0"), namespace: "ops", pod: "op-0", serviceAccount: "op" };
    expect(workloadOf({ ...pod, chart: "ingress-nginx-4.10.0" })).toBe("chart ingress-nginx");
    expect(workloadOf(pod)).toBe("sa ops/op");
    expect(workloadOf({ ...pod, serviceAccount: null })).toBe("namespace ops");
    expect(workloadOf(ua("kubectl/v1.34.0 (linux/amd64) kubernetes/abc"))).toBe("kubectl");
    expect(workloadOf(ua("Go-http-client/1.1"))).toBe("Go-http-client");
    expect(workloadOf(ua(""))).toBe("(no user agent)");
  });

  it("is null for e2e tests and the suite's set-up calls", () => {
    expect(
      workloadOf(ua("e2e.test/v1.34.4 (linux/amd64) kubernetes/abc -- [sig-node] Pods [Conformance]")),
    ).toBeNull();
    expect(workloadOf(ua("e2e.test/v1.34.4 (linux/amd64) kubernetes/abc"))).toBeNull();
  });
});
