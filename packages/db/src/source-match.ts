import { type Source, UPSTREAM_E2E } from "@apisnoop/protocol";
import type { SourceFilterName, SourceFilters } from "./filters";

/**
 * What a source filter means, decided here once: each filter names a field of the source and one way of
 * matching it. db's SQL (`selection-sql.ts`) and the live predicate of the web app (`sourceMatches`,
 * applied to hits as they arrive) are both derived from this table, so a live delta counts exactly what
 * a reload would show. `source-match.test.ts` holds the two equal on generated sources and filters
 * against PostgreSQL.
 */
export const SOURCE_FILTER_MATCH = {
  chart: "chart",
  namespace: "exact",
  pod: "exact",
  serviceAccount: "exact",
  userAgent: "prefix",
  e2eTest: "exact",
  name: "exact",
  upstream: "upstream",
  cluster: "exact",
  run: "exact",
} as const satisfies Record<SourceFilterName, SourceMatchKind>;

/** The source field a filter reads: the field of its name, but `upstream` reads the source's `name`. */
const FIELD: Record<SourceFilterName, keyof Source> = {
  chart: "chart",
  namespace: "namespace",
  pod: "pod",
  serviceAccount: "serviceAccount",
  userAgent: "userAgent",
  e2eTest: "e2eTest",
  name: "name",
  upstream: "name",
  cluster: "cluster",
  run: "run",
};

/**
 * How a filter value matches a field: `exact`; `prefix` (`kubectl` matches `kubectl/v1.34.0 ...`);
 * `chart`, a `helm.sh/chart` label by its name with any version (`nginx` matches `nginx-1.2.3`, not
 * `nginx-ingress-4.0.0`) or whole; `upstream`, a source name that is (`only`) or is not (`none`, a
 * source without a name too) the upstream e2e source's.
 */
export type SourceMatchKind = "exact" | "prefix" | "chart" | "upstream";

/** Each kind of match as a predicate and as SQL; a null field matches only where `nulls` says so. */
const MATCHES: Record<
  SourceMatchKind,
  {
    test(value: string, wanted: string): boolean;
    sql(column: string, wanted: string): string;
    /** Whether a source without the field matches `wanted` (default: never). */
    nulls?: (wanted: string) => boolean;
  }
> = {
  exact: {
    test: (value, wanted) => value === wanted,
    sql: (column, wanted) => `${column} = ${wanted}`,
  },
  prefix: {
    test: (value, wanted) => value.startsWith(wanted),
    sql: (column, wanted) => `starts_with(${column}, ${wanted})`,
  },
  chart: {
    test: (value, wanted) =>
      value === wanted || (value.startsWith(`${wanted}-`) && /^v?[0-9]/.test(value.slice(wanted.length + 1))),
    sql: (column, wanted) =>
      `(${column} = ${wanted} OR (starts_with(${column}, ${wanted} || '-') AND substr(${column}, length(${wanted}) + 2) ~ '^v?[0-9]'))`,
  },
  upstream: {
    test: (value, wanted) => (value === UPSTREAM_E2E) === (wanted === "only"),
    // The source name is a constant of the protocol, not input: it may stand in the SQL text.
    sql: (column, wanted) => `(coalesce(${column} = '${UPSTREAM_E2E}', false) = (${wanted} = 'only'))`,
    nulls: (wanted) => wanted !== "only",
  },
};

const FILTER_NAMES = Object.keys(SOURCE_FILTER_MATCH) as SourceFilterName[];

/** Whether `source` is selected by the source filters: every given one must hold. */
export function sourceMatches(filters: SourceFilters, source: Source): boolean {
  for (const name of FILTER_NAMES) {
    const wanted = filters[name];
    if (wanted === undefined) continue;
    const match = MATCHES[SOURCE_FILTER_MATCH[name]];
    const value = source[FIELD[name]] as string | null;
    if (value === null ? !match.nulls?.(wanted) : !match.test(value, wanted)) return false;
  }
  return true;
}

/**
 * The same selection as SQL conditions (to be joined with AND), one per given filter: `column(name)`
 * names a source's column, `param(value)` adds a value as a statement parameter and returns its
 * placeholder, so values never travel inside the SQL text.
 */
export function sourceFilterConditions(
  filters: SourceFilters,
  column: (field: keyof Source) => string,
  param: (value: string) => string,
): string[] {
  const conditions: string[] = [];
  for (const name of FILTER_NAMES) {
    const wanted = filters[name];
    if (wanted !== undefined)
      conditions.push(MATCHES[SOURCE_FILTER_MATCH[name]].sql(column(FIELD[name]), param(wanted)));
  }
  return conditions;
}

/** Whether a `helm.sh/chart` label is chart `wanted` (any version): `chart` filters match this way. */
export function chartMatches(wanted: string, chart: string | null): boolean {
  return chart !== null && MATCHES.chart.test(chart, wanted);
}

/**
 * The chart name of a `helm.sh/chart` label: the name before the last `-` that starts a SemVer
 * MAJOR.MINOR.PATCH version (with or without `v`), which Helm requires of chart versions —
 * `ingress-nginx-4.10.0` is `ingress-nginx`, `chart-3-1.0.0` is `chart-3`; a label without one is a name.
 * The `chart` filter with this name selects the label.
 */
export function chartName(chart: string): string {
  return /^(.+)-v?\d+\.\d+\.\d+([-+].*)?$/.exec(chart)?.[1] ?? chart;
}
