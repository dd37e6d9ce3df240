import type { Level } from "@apisnoop/openapi";
import type { Source } from "@apisnoop/protocol";
import type { DashboardFilters, FilterResult } from "../data/dashboard-data";

/** The source filters, in the order the filter bar shows them. */
export const SOURCE_FILTERS = [
  "chart",
  "namespace",
  "pod",
  "serviceAccount",
  "userAgent",
  "e2eTest",
] as const;
export type SourceFilter = (typeof SOURCE_FILTERS)[number];

/** Every URL parameter a view understands. */
export const FILTER_PARAMS = ["release", ...SOURCE_FILTERS, "window", "outcome", "level"] as const;

/** Time windows the filter bar offers (any `<n>m`, `<n>h` or `<n>d` is accepted in a URL). */
export const WINDOW_CHOICES = ["15m", "1h", "6h", "24h", "7d", "30d"] as const;

const LEVELS: readonly Level[] = ["stable", "beta", "alpha"];
const MAX_LENGTH: Record<SourceFilter, number> = {
  chart: 253,
  namespace: 253,
  pod: 253,
  serviceAccount: 253,
  userAgent: 512,
  e2eTest: 1024,
};

/** The filters of a URL without any parameter: the default release, everything, all time. */
export const NO_FILTERS: DashboardFilters = {
  release: null,
  chart: null,
  namespace: null,
  pod: null,
  serviceAccount: null,
  userAgent: null,
  e2eTest: null,
  windowMinutes: null,
  outcome: "any",
  level: null,
};

/**
 * Parses a view's URL parameters. Unknown parameters, repeated ones and bad values are errors that name
 * the parameter (the HTTP API answers them with 400); empty values mean "not filtered".
 */
export function parseDashboardFilters(params: URLSearchParams): FilterResult {
  const filters: DashboardFilters = { ...NO_FILTERS };
  const seen = new Set<string>();
  for (const [name, raw] of params) {
    if (!(FILTER_PARAMS as readonly string[]).includes(name)) {
      return fail(`unknown filter '${name}' (filters are ${FILTER_PARAMS.join(", ")})`);
    }
    if (seen.has(name)) return fail(`filter '${name}' is given more than once`);
    seen.add(name);
    const value = raw.trim();
    if (value === "") continue;
    switch (name) {
      case "release": {
        const release = /^v?1\.(\d{1,2})(?:\.0)?$/.exec(value);
        if (!release) return fail(`release must look like 1.34, not '${clip(value)}'`);
        filters.release = `1.${release[1]}`;
        break;
      }
      case "window": {
        const minutes = windowMinutes(value);
        if (minutes === null)
          return fail(`window must be like 15m, 6h or 7d (at most 366d), not '${clip(value)}'`);
        filters.windowMinutes = minutes;
        break;
      }
      case "outcome":
        if (value !== "any" && value !== "2xx")
          return fail(`outcome must be any or 2xx, not '${clip(value)}'`);
        filters.outcome = value;
        break;
      case "level":
        if (!LEVELS.includes(value as Level))
          return fail(`level must be stable, beta or alpha, not '${clip(value)}'`);
        filters.level = value as Level;
        break;
      default: {
        const filter = name as SourceFilter;
        if (value.length > MAX_LENGTH[filter])
          return fail(`${filter} is longer than ${MAX_LENGTH[filter]} characters`);
        filters[filter] = value;
      }
    }
  }
  return { ok: true, filters };
}

/** The canonical query of a set of filters: defaults left out, parameters in FILTER_PARAMS order. */
export function filtersToQuery(filters: DashboardFilters): URLSearchParams {
  const query = new URLSearchParams();
  if (filters.release) query.set("release", filters.release);
  for (const name of SOURCE_FILTERS) {
    const value = filters[name];
    if (value) query.set(name, value);
  }
  if (filters.windowMinutes !== null) query.set("window", formatWindow(filters.windowMinutes));
  if (filters.outcome !== "any") query.set("outcome", filters.outcome);
  if (filters.level) query.set("level", filters.level);
  return query;
}

/** `15m` -> 15, `6h` -> 360, `7d` -> 10080; null when malformed or longer than a leap year. */
export function windowMinutes(value: string): number | null {
  const found = /^(\d{1,6})([mhd])$/.exec(value);
  if (!found) return null;
  const minutes = Number(found[1]) * { m: 1, h: 60, d: 1440 }[found[2] as "m" | "h" | "d"];
  return minutes > 0 && minutes <= 366 * 1440 ? minutes : null;
}

/** The shortest `<n>m|h|d` spelling of a window. */
export function formatWindow(minutes: number): string {
  if (minutes % 1440 === 0) return `${minutes / 1440}d`;
  if (minutes % 60 === 0) return `${minutes / 60}h`;
  return `${minutes}m`;
}

/**
 * Whether a source is selected by the source filters. chart: the chart name with or without its version
 * (`ingress-nginx` selects `ingress-nginx-4.10.0`); userAgent: a prefix (`kubectl` selects every kubectl);
 * e2eTest: a substring (`[sig-apps]`, `[Conformance]`); the others exactly.
 */
export function sourceMatches(filters: DashboardFilters, source: Source): boolean {
  if (filters.chart && !chartMatches(filters.chart, source.chart)) return false;
  if (filters.namespace && source.namespace !== filters.namespace) return false;
  if (filters.pod && source.pod !== filters.pod) return false;
  if (filters.serviceAccount && source.serviceAccount !== filters.serviceAccount) return false;
  if (filters.userAgent && !source.userAgent.startsWith(filters.userAgent)) return false;
  if (filters.e2eTest && !source.e2eTest?.includes(filters.e2eTest)) return false;
  return true;
}

/** `ingress-nginx` matches `ingress-nginx` and `ingress-nginx-4.10.0`, not `ingress-nginx-extra-1.0`. */
export function chartMatches(wanted: string, chart: string | null): boolean {
  if (chart === null) return false;
  if (chart === wanted) return true;
  return chart.startsWith(`${wanted}-`) && /^v?\d/.test(chart.slice(wanted.length + 1));
}

/** The chart name of a `helm.sh/chart` label: `ingress-nginx-4.10.0` -> `ingress-nginx`. */
export function chartName(chart: string): string {
  return /^(.+?)-v?\d+(\.\d+)*([-+].*)?$/.exec(chart)?.[1] ?? chart;
}

/** Any source filter set? */
export function hasSourceFilter(filters: DashboardFilters): boolean {
  return SOURCE_FILTERS.some((name) => filters[name] !== null);
}

function fail(error: string): FilterResult {
  return { ok: false, error };
}

function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}…` : value;
}
