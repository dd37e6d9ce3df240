import type { DashboardFilters } from "../data/dashboard-data";
import { dashboardData } from "../server/app-context";

/** A JSON error body `{ "error": message }` with its status; the one error shape of the HTTP API. */
export function jsonError(status: number, message: string): Response {
  return Response.json({ error: message }, { status, headers: { "cache-control": "no-store" } });
}

/**
 * Parses a request's filters; a bad value answers 400 naming the parameter. `ignore` lists parameters the
 * route itself reads (e.g. the badge's `label`), which are not filters.
 */
export function filtersOf(
  request: Request,
  ignore: readonly string[] = [],
): { ok: true; filters: DashboardFilters; params: URLSearchParams } | { ok: false; response: Response } {
  const params = new URL(request.url).searchParams;
  const filterParams = new URLSearchParams(params);
  for (const name of ignore) filterParams.delete(name);
  const parsed = dashboardData().parseFilters(filterParams);
  if (!parsed.ok) return { ok: false, response: jsonError(400, parsed.error) };
  return { ok: true, filters: parsed.filters, params };
}

/** Runs a handler, turning an unexpected failure into a JSON 500 without leaking internals. */
export async function answer(handler: () => Promise<Response>): Promise<Response> {
  try {
    return await handler();
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    const status = (error as { status?: unknown }).status;
    // DataError carries its status; checked by shape because Next bundles its own copy of the class.
    if (status === 400 || status === 404) return jsonError(status, message);
    console.error(`apisnoop web: API error: ${message}`);
    return jsonError(500, "internal error; see the server log");
  }
}
