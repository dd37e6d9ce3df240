/**
 * What a source filter means, on both sides: the live predicate (`sourceMatches`) and db's SQL
 * (`sourceConditions`) are derived from one table, and a property test holds them equal on generated
 * sources and filters against a real PostgreSQL. The seed is printed; `FUZZ_SEED=<n>` replays a run.
 */
import { SeededChoices } from "@apisnoop/openapi/testing";
import { type Source, sourceFromUserAgent, UPSTREAM_E2E } from "@apisnoop/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "./database";
import {
  parseCoverageFilters,
  SOURCE_FILTERS,
  type SourceFilterName,
  type SourceFilters,
  UPSTREAM_CHOICES,
} from "./filters";
import { recordBatch, sourceIdentity } from "./record-batch";
import { SqlParams, sourceConditions } from "./selection-sql";
import { chartMatches, chartName, sourceMatches } from "./source-match";
import { openTestDatabase, testBatch } from "./testing";

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

  it("selects the upstream e2e source alone, or leaves it out (sources without a name are yours)", () => {
    const upstream = { ...e2e, userAgent: "e2e.test", name: UPSTREAM_E2E };
    const sources = [base, e2e, upstream, { ...base, name: "my-operator" }];
    const select = (query: string) => {
      const parsed = parseCoverageFilters(new URLSearchParams(query));
      if (!parsed.ok) throw new Error(parsed.error);
      return sources.map((source) => sourceMatches(parsed.filters, source));
    };
    expect(select("upstream=only")).toEqual([false, false, true, false]);
    expect(select("upstream=none")).toEqual([true, true, false, true]);
    expect(select("upstream=none&userAgent=e2e.test")).toEqual([false, true, false, false]);
    expect(parseCoverageFilters(new URLSearchParams("upstream=yes"))).toEqual({
      ok: false,
      error: "invalid filter upstream: upstream is one of only, none",
    });
  });
});

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const SOURCES = 400;
const FILTER_SETS = 600;

/** Pieces of generated values: look-alike names, SQL and regex metacharacters, non-ASCII text. */
const ATOMS = [
  "nginx",
  "ingress",
  "ingress-nginx",
  "cert",
  "a",
  "A",
  "é",
  "ß",
  "日本",
  "😀",
  "%",
  "_",
  "\\",
  "'",
  "*",
  "(",
  ".",
  "x",
  "v",
];
const VERSIONS = ["1.2.3", "v1.0", "4", "10.0.0-rc.1", "x1", "v", "", "1+build"];

/** Generated sources and filter sets over a small alphabet, so that filters often (not always) match. */
class Generator {
  constructor(private readonly choices: SeededChoices) {}

  text(): string {
    const { choices } = this;
    let text = choices.pick(ATOMS);
    for (let n = choices.int(3); n > 0; n--)
      text += choices.pick(["-", "", ".", "/", " "]) + choices.pick(ATOMS);
    return text;
  }

  maybe(value: () => string): string | null {
    return this.choices.int(4) === 0 ? null : value();
  }

  source(): Source {
    const { choices } = this;
    const chart = () => {
      const version = choices.pick(VERSIONS);
      return version === "" ? this.text() : `${this.text()}-${version}`;
    };
    return {
      ...sourceFromUserAgent(choices.int(5) === 0 ? "" : this.text()),
      // Some are the imported upstream e2e source, which the upstream filter selects or leaves out.
      name: choices.int(6) === 0 ? UPSTREAM_E2E : this.maybe(() => this.text()),
      e2eTest: this.maybe(() => this.text()),
      namespace: this.maybe(() => this.text()),
      pod: this.maybe(() => this.text()),
      serviceAccount: this.maybe(() => this.text()),
      chart: this.maybe(chart),
      helmRelease: this.maybe(() => this.text()),
      cluster: this.maybe(() => this.text()),
      run: this.maybe(() => this.text()),
    };
  }

  /** A value for filter `name`: a source's value, a prefix of it, its chart name, or something new. */
  filterValue(name: SourceFilterName, sources: Source[]): string {
    const { choices } = this;
    if (name === "upstream") return choices.pick(UPSTREAM_CHOICES);
    const value = choices.pick(sources)[name];
    if (value === null || value === "" || choices.int(6) === 0) return this.text();
    const points = Array.from(value);
    switch (choices.int(4)) {
      case 0:
        return points.slice(0, 1 + choices.int(points.length)).join("");
      case 1:
        return name === "chart" ? chartName(value) : value;
      default:
        return value;
    }
  }

  filters(sources: Source[]): SourceFilters {
    const filters: SourceFilters = {};
    for (let n = 1 + this.choices.int(3); n > 0; n--) {
      const name = this.choices.pick(SOURCE_FILTERS);
      filters[name] = this.filterValue(name, sources);
    }
    return filters;
  }
}

describe(`source filters in SQL and in memory (seed ${SEED}; FUZZ_SEED=${SEED} replays it)`, () => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase();
  });
  afterAll(async () => {
    await db?.stop();
  });

  it("select the same sources, on generated sources and filters", async () => {
    const generate = new Generator(new SeededChoices(SEED));
    const sources = Array.from({ length: SOURCES }, () => generate.source());
    await recordBatch(db.prisma, testBatch({ sources }));
    const keys = sources.map(sourceIdentity);
    let matched = 0;
    for (let i = 0; i < FILTER_SETS; i++) {
      const filters = generate.filters(sources);
      const params = new SqlParams();
      const conditions = sourceConditions(filters, params) ?? "TRUE";
      const rows = await db.prisma.$queryRawUnsafe<{ key: string }[]>(
        `SELECT s."key" FROM "Source" s WHERE ${conditions}`,
        ...params.values,
      );
      const inSql = new Set(rows.map((row) => row.key));
      const inMemory = new Set(keys.filter((_, index) => sourceMatches(filters, sources[index] as Source)));
      expect([...inSql].sort(), JSON.stringify(filters)).toEqual([...inMemory].sort());
      if (inMemory.size > 0) matched++;
    }
    // The generator is only worth its runs if filters select something often enough.
    expect(matched).toBeGreaterThan(FILTER_SETS / 4);
  });
});

describe("chartName", () => {
  it("cuts the SemVer version Helm requires, whatever the name's own dashes and digits", () => {
    expect(
      [
        "ingress-nginx-4.10.0",
        "cert-manager-v1.14.0",
        "my-chart-1.2.3-rc.1",
        "app-1.0.0+build.5",
        "chart-3-1.0.0",
        "plain",
        "a-1b",
        "nginx-1.2",
      ].map(chartName),
    ).toEqual(["ingress-nginx", "cert-manager", "my-chart", "app", "chart-3", "plain", "a-1b", "nginx-1.2"]);
  });
});
