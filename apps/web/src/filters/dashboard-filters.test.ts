import { parseCoverageFilters } from "@apisnoop/db/filters";
import { sourceFromUserAgent } from "@apisnoop/protocol";
import { describe, expect, it } from "vitest";
import { chartMatches, chartName, filterQuery, sourceMatches } from "./dashboard-filters";

describe("filterQuery", () => {
  it("keeps the filter parameters as written, in a fixed order", () => {
    expect(filterQuery(new URLSearchParams("level=beta&from=1h&metric=stable&chart=&release=1.34"))).toBe(
      "release=1.34&from=1h&level=beta",
    );
    expect(filterQuery(new URLSearchParams(""))).toBe("");
  });
});

describe("source matching", () => {
  const base = sourceFromUserAgent("kubectl/v1.34.0 (linux/amd64) kubernetes/abc");
  const pod = {
    ...base,
    chart: "ingress-nginx-4.10.0",
    namespace: "ingress",
    pod: "ctl-0",
    serviceAccount: "ctl",
  };
  const e2e = sourceFromUserAgent("e2e.test/v1.34.0 -- [sig-node] Pods should run [Conformance]");
  const only = (query: string) => {
    const parsed = parseCoverageFilters(new URLSearchParams(query));
    if (!parsed.ok) throw new Error(parsed.error);
    return [base, pod, e2e].map((source) => sourceMatches(parsed.filters, source));
  };

  it("matches charts with or without their version", () => {
    expect(chartMatches("ingress-nginx", "ingress-nginx-4.10.0")).toBe(true);
    expect(chartMatches("ingress-nginx-4.10.0", "ingress-nginx-4.10.0")).toBe(true);
    expect(chartMatches("ingress", "ingress-nginx-4.10.0")).toBe(false);
    expect(chartMatches("ingress-nginx", null)).toBe(false);
    expect(chartName("ingress-nginx-4.10.0")).toBe("ingress-nginx");
    expect(chartName("cert-manager-v1.14.2")).toBe("cert-manager");
    expect(chartName("plain")).toBe("plain");
  });

  it("applies every source filter as the database does", () => {
    expect(only("")).toEqual([true, true, true]);
    expect(only("chart=ingress-nginx")).toEqual([false, true, false]);
    expect(only("chart=ingress")).toEqual([false, false, false]);
    expect(only("namespace=ingress&pod=ctl-0&serviceAccount=ctl")).toEqual([false, true, false]);
    expect(only("userAgent=kubectl")).toEqual([true, true, false]);
    expect(only("userAgent=e2e.test")).toEqual([false, false, true]);
    expect(only("e2eTest=%5Bsig-node%5D Pods should run %5BConformance%5D")).toEqual([false, false, true]);
    expect(only("e2eTest=Pods")).toEqual([false, false, false]);
    expect(only("name=my-operator")).toEqual([false, false, false]);
  });
});
