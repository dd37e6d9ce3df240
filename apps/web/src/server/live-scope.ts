import { DataError } from "../data/dashboard-data";
import { parseDashboardFilters, sourceMatches } from "../filters/dashboard-filters";
import type { ScopeResolver } from "../realtime/live";
import type { DatabaseDashboardData } from "./database-dashboard-data";

/**
 * Resolves a page's query string into its live scope with the same parser and source semantics as the
 * page's own data, so a live delta adds exactly what a reload would show.
 */
export function liveScopeResolver(data: DatabaseDashboardData): ScopeResolver {
  return async (query) => {
    const parsed = parseDashboardFilters(new URLSearchParams(query));
    if (!parsed.ok) return parsed;
    const { filters } = parsed;
    let release: string;
    let defaultRelease: string;
    try {
      [release, defaultRelease] = await Promise.all([
        data.resolveRelease(filters.release),
        data.resolveRelease(null),
      ]);
    } catch (error) {
      if (error instanceof DataError) return { ok: false, error: error.message };
      throw error;
    }
    const endpoints = await data.endpointIds(release, filters.level);
    return {
      ok: true,
      release,
      scope: {
        acceptsRelease: (batchRelease) => (batchRelease ?? defaultRelease) === release,
        acceptsEndpoint: (operationId) => endpoints.has(operationId),
        acceptsSource: (source) => sourceMatches(filters, source),
        successOnly: filters.outcome === "2xx",
      },
    };
  };
}
