import { FILTER_PARAMS, SOURCE_FILTERS, type SourceFilterName } from "@apisnoop/db/filters";

/**
 * The dashboard's side of the URL filters. Parsing and their meaning are packages/db's
 * (`parseCoverageFilters`, and `sourceMatches`, the live predicate derived from the same definition as
 * db's SQL); this module keeps what only the web app needs: the canonical query of a URL and the filter
 * bar's choices.
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
