import {
  type CoverageFilters,
  FILTER_PARAMS,
  SOURCE_FILTERS,
  type SourceFilterName,
} from "@apisnoop/db/filters";
import type { Source } from "@apisnoop/protocol";

/**
 * The dashboard's side of the URL filters. Parsing and their meaning are packages/db's
 * (`parseCoverageFilters`, the same for pages, API and live updates); this module keeps what only the
 * web app needs: the canonical query of a URL, the filter bar's choices, and the in-memory match of a
 * live hit's source, which must agree with db's SQL (`selection-sql.ts`).
 */

export { FILTER_PARAMS, SOURCE_FILTERS, type SourceFilterName };

/** Time windows the filter bar offers, as `from` values (any ISO time or `<n>m|h|d` works in a URL). */
export const WINDOW_CHOICES = ["15m", "1h", "6h", "24h", "7d", "30d"] as const;

/**
 * The filter parameters of a URL as they were written (a relative `from=1h` stays relative), in
 * FILTER_PARAMS order, empty ones dropped: what links to other views and the live subscription carry.
 */
export function filterQuery(params: URLSearchParams): string {
  const query = new URLSearchParams();
  for (const name of FILTER_PARAMS) {
    for (const value of params.getAll(name)) if (value.trim() !== "") query.append(name, value);
  }
  return query.toString();
}

/**
 * Whether a source is selected by the source filters, as db's SQL decides it: every given filter must
 * hold; `chart` matches the chart name with any version (`nginx` matches `nginx-1.2.3`, not
 * `nginx-ingress-4.0.0`), `userAgent` is a prefix, the others are exact.
 */
export function sourceMatches(filters: Pick<CoverageFilters, SourceFilterName>, source: Source): boolean {
  if (filters.chart !== undefined && !chartMatches(filters.chart, source.chart)) return false;
  if (filters.userAgent !== undefined && !source.userAgent.startsWith(filters.userAgent)) return false;
  for (const name of ["namespace", "pod", "serviceAccount", "e2eTest", "name"] as const) {
    if (filters[name] !== undefined && source[name] !== filters[name]) return false;
  }
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
