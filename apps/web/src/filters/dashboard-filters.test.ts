import { sourceFromUserAgent } from "@apisnoop/protocol";
import { describe, expect, it } from "vitest";
import {
  chartMatches,
  chartName,
  filtersToQuery,
  formatWindow,
  NO_FILTERS,
  parseDashboardFilters,
  sourceMatches,
  windowMinutes,
} from "./dashboard-filters";

const parse = (query: string) => parseDashboardFilters(new URLSearchParams(query));

describe("parseDashboardFilters", () => {
  it("reads every filter", () => {
    expect(
      parse(
        "release=v1.34.0&chart=ingress-nginx&namespace=apps&pod=web-0&serviceAccount=default&userAgent=kubectl" +
          "&e2eTest=%5Bsig-apps%5D&window=6h&outcome=2xx&level=stable",
      ),
    ).toEqual({
      ok: true,
      filters: {
        release: "1.34",
        chart: "ingress-nginx",
        namespace: "apps",
        pod: "web-0",
        serviceAccount: "default",
        userAgent: "kubectl",
        e2eTest: "[sig-apps]",
        windowMinutes: 360,
        outcome: "2xx",
        level: "stable",
      },
    });
    expect(parse("")).toEqual({ ok: true, filters: NO_FILTERS });
    expect(parse("chart=&window=")).toEqual({ ok: true, filters: NO_FILTERS });
  });

  it.each([
    ["release=latest", "release must look like 1.34, not 'latest'"],
    ["release=2.0", "release must look like 1.34, not '2.0'"],
    ["window=forever", "window must be like 15m, 6h or 7d (at most 366d), not 'forever'"],
    ["window=0m", "window must be like 15m, 6h or 7d (at most 366d), not '0m'"],
    ["window=400d", "window must be like 15m, 6h or 7d (at most 366d), not '400d'"],
    ["outcome=5xx", "outcome must be any or 2xx, not '5xx'"],
    ["level=gamma", "level must be stable, beta or alpha, not 'gamma'"],
    ["colour=red", expect.stringContaining("unknown filter 'colour'")],
    ["chart=a&chart=b", "filter 'chart' is given more than once"],
    [`pod=${"p".repeat(254)}`, "pod is longer than 253 characters"],
  ])("refuses %s", (query, error) => {
    expect(parse(query)).toEqual({ ok: false, error });
  });

  it("round-trips through the canonical query", () => {
    const query = "release=1.34&chart=nginx&userAgent=kubectl&window=7d&outcome=2xx&level=beta";
    const parsed = parse(query);
    if (!parsed.ok) throw new Error(parsed.error);
    expect(filtersToQuery(parsed.filters).toString()).toBe(query);
    expect(filtersToQuery(NO_FILTERS).toString()).toBe("");
  });
});

describe("windows", () => {
  it("converts both ways", () => {
    expect(["15m", "1h", "90m", "24h", "7d"].map(windowMinutes)).toEqual([15, 60, 90, 1440, 10080]);
    expect([15, 60, 90, 1440, 10080].map(formatWindow)).toEqual(["15m", "1h", "90m", "1d", "7d"]);
    expect(windowMinutes("1.5h")).toBeNull();
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

  it("matches charts with or without their version", () => {
    expect(chartMatches("ingress-nginx", "ingress-nginx-4.10.0")).toBe(true);
    expect(chartMatches("ingress-nginx-4.10.0", "ingress-nginx-4.10.0")).toBe(true);
    expect(chartMatches("ingress", "ingress-nginx-4.10.0")).toBe(false);
    expect(chartMatches("ingress-nginx", null)).toBe(false);
    expect(chartName("ingress-nginx-4.10.0")).toBe("ingress-nginx");
    expect(chartName("cert-manager-v1.14.2")).toBe("cert-manager");
    expect(chartName("plain")).toBe("plain");
  });

  it("applies every source filter", () => {
    const only = (query: string) => {
      const parsed = parse(query);
      if (!parsed.ok) throw new Error(parsed.error);
      return [base, pod].map((source) => sourceMatches(parsed.filters, source));
    };
    expect(only("")).toEqual([true, true]);
    expect(only("chart=ingress-nginx")).toEqual([false, true]);
    expect(only("namespace=ingress&pod=ctl-0&serviceAccount=ctl")).toEqual([false, true]);
    expect(only("userAgent=kubectl")).toEqual([true, true]);
    expect(only("userAgent=helm")).toEqual([false, false]);
    expect(only("e2eTest=Conformance")).toEqual([false, false]);
    const e2e = sourceFromUserAgent("e2e.test/v1.34.0 -- [sig-node] Pods should run [Conformance]");
    const parsed = parse("e2eTest=%5BConformance%5D");
    expect(parsed.ok && sourceMatches(parsed.filters, e2e)).toBe(true);
  });
});
