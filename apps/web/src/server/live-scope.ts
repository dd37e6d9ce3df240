import { NotFoundError } from "@apisnoop/db/errors";
import { parseCoverageFilters, sourceMatches } from "@apisnoop/db/filters";
import type { ScopeResolver } from "../realtime/live";
import type { DatabaseDashboardData } from "./database-dashboard-data";

/**
 * Resolves a page's query string into its live scope with db's parser and the same source rules as db's
 * SQL, so a live delta adds exactly what a reload would show. The time window is not checked: live hits
 * are always inside a window that ends now.
 */
export function liveScopeResolver(data: DatabaseDashboardData): ScopeResolver {
  return async (query) => {
    const parsed = parseCoverageFilters(new URLSearchParams(query));
    if (!parsed.ok) return parsed;
    const { filters } = parsed;
    let release: string;
    try {
      release = await data.resolveRelease(filters.release);
    } catch (error) {
      if (error instanceof NotFoundError) return { ok: false, error: error.message };
      throw error;
    }
    const endpoints = await data.endpointIds(release, filters.level);
    return {
      ok: true,
      release,
      scope: {
        // The release each batch was stored under, as recordBatch resolved it: nothing guessed here.
        acceptsRelease: (stored) => stored === release,
        acceptsEndpoint: (operationId) => endpoints.has(operationId),
        acceptsSource: (source) => sourceMatches(filters, source),
        successOnly: filters.outcome === "2xx",
      },
    };
  };
}
