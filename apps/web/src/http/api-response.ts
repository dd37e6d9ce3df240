import type { DashboardFilters } from "../data/dashboard-data";
import { dashboardData } from "../server/app-context";

/** A JSON error body `{ "error": message }` with its status; the one error shape of the HTTP API. */
export function jsonError(status: number, message: string): Response {
  return Response.json({ error: message }, { status, headers: { "cache-control": "no-store" } });
}

/** Parses a request's filters; a bad value answers 400 naming the parameter. */
export function filtersOf(
  request: Request,
): { ok: true; filters: DashboardFilters; params: URLSearchParams } | { ok: false; response: Response } {
  const params = new URL(request.url).searchParams;
  const parsed = dashboardData().parseFilters(params);
  if (!parsed.ok) return { ok: false, response: jsonError(400, parsed.error) };
  return { ok: true, filters: parsed.filters, params };
}

/** Runs a handler, turning an unexpected failure into a JSON 500 without leaking internals. */
export async function answer(handler: () => Promise<Response>): Promise<Response> {
  try {
    return await handler();
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    // packages/db's NotFoundError (an unloaded release, an unknown endpoint); checked by name because Next
    // bundles its own copy of the class.
    if ((error as Error).name === "NotFoundError") return jsonError(404, message);
    console.error(`apisnoop web: API error: ${message}`);
    return jsonError(500, "internal error; see the server log");
  }
}
