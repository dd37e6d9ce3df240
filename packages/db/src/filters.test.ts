import { describe, expect, it } from "vitest";
import { coverageFiltersToSearchParams, parseCoverageFilters } from "./filters";

const now = () => new Date("2026-11-28T12:00:00Z");
const parse = (query: string) => parseCoverageFilters(new URLSearchParams(query), { now });

describe("parseCoverageFilters", () => {
  it("defaults to any outcome and nothing else", () => {
    expect(parse("")).toEqual({ ok: true, filters: { outcome: "any" } });
  });

  it("reads every filter", () => {
    const query =
      "release=1.34&chart=nginx&namespace=web&pod=nginx-0&serviceAccount=nginx&userAgent=kubectl&e2eTest=t&name=n&upstream=none" +
      "&from=2026-11-28T10:00:00Z&to=2026-11-28T11:00:00.000Z&outcome=2xx&level=beta";
    expect(parse(query)).toEqual({
      ok: true,
      filters: {
        release: "1.34",
        chart: "nginx",
        namespace: "web",
        pod: "nginx-0",
        serviceAccount: "nginx",
        userAgent: "kubectl",
        e2eTest: "t",
        name: "n",
        upstream: "none",
        from: new Date("2026-11-28T10:00:00Z"),
        to: new Date("2026-11-28T11:00:00Z"),
        outcome: "2xx",
        level: "beta",
      },
    });
  });

  it("reads times as dates, epoch milliseconds, now and durations before now", () => {
    const times = (query: string) => {
      const parsed = parse(query);
      return parsed.ok
        ? [parsed.filters.from?.toISOString(), parsed.filters.to?.toISOString()]
        : parsed.error;
    };
    expect(times("from=2026-11-27")).toEqual(["2026-11-27T00:00:00.000Z", undefined]);
    expect(times("from=1764331200000")).toEqual(["2025-11-28T12:00:00.000Z", undefined]);
    expect(times("from=15m&to=now")).toEqual(["2026-11-28T11:45:00.000Z", "2026-11-28T12:00:00.000Z"]);
    expect(times("from=24h")).toEqual(["2026-11-27T12:00:00.000Z", undefined]);
    expect(times("from=7d")).toEqual(["2026-11-21T12:00:00.000Z", undefined]);
    expect(times("from=2026-11-28T13:00:00%2B01:00")).toEqual(["2026-11-28T12:00:00.000Z", undefined]);
  });

  it("treats empty values as absent and ignores parameters it does not own", () => {
    expect(parse("chart=&outcome=&zoom=core/Pod")).toEqual({ ok: true, filters: { outcome: "any" } });
  });

  it("reads a Next.js searchParams record", () => {
    expect(parseCoverageFilters({ chart: "nginx", level: ["alpha"], other: "x" })).toEqual({
      ok: true,
      filters: { chart: "nginx", level: "alpha", outcome: "any" },
    });
  });

  it.each([
    ["outcome=5xx", "invalid filter outcome: outcome is one of any, 2xx"],
    ["level=gamma", "invalid filter level: level is one of stable, beta, alpha"],
    ["from=yesterday", 'invalid filter from: "yesterday" is not a time'],
    ["to=2026-13-45", 'invalid filter to: "2026-13-45" is not a time'],
    ["from=2026-11-28T12:00:00Z&to=2026-11-28T11:00:00Z", "invalid filter from: from must be before to"],
    ["release=1.34&release=1.33", "invalid filter release: given 2 times"],
    ["release=1.34;drop", 'invalid filter release: a release is a name like "1.34"'],
    [`pod=${"x".repeat(300)}`, "invalid filter pod:"],
    ["upstream=yes", "invalid filter upstream: upstream is one of only, none"],
  ])("rejects %s with a clear message", (query, message) => {
    const parsed = parse(query);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(message);
  });
});

describe("coverageFiltersToSearchParams", () => {
  it("writes what parseCoverageFilters reads, leaving defaults out", () => {
    const parsed = parse("release=1.34&chart=nginx&from=2026-11-28T10:00:00Z&outcome=2xx&level=stable");
    if (!parsed.ok) throw new Error(parsed.error);
    const params = coverageFiltersToSearchParams(parsed.filters);
    expect(params.toString()).toBe(
      "release=1.34&chart=nginx&from=2026-11-28T10%3A00%3A00.000Z&outcome=2xx&level=stable",
    );
    expect(parse(params.toString())).toEqual(parsed);
    expect(coverageFiltersToSearchParams({ outcome: "any" }).toString()).toBe("");
  });
});
