import { answer, filtersOf } from "../../../../http/api-response";
import { dashboardData } from "../../../../server/app-context";

export const dynamic = "force-dynamic";

/** GET /api/v1/coverage?<filters>: the selection's coverage and every endpoint of the release, as JSON. */
export function GET(request: Request): Promise<Response> {
  return answer(async () => {
    const parsed = filtersOf(request);
    if (!parsed.ok) return parsed.response;
    const report = await dashboardData().coverage(parsed.filters);
    return Response.json(report, { headers: { "cache-control": "no-store" } });
  });
}
