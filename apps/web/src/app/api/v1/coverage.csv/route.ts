import { coverageCsv } from "@apisnoop/coverage";
import { answer, filtersOf } from "../../../../http/api-response";
import { dashboardData } from "../../../../server/app-context";

export const dynamic = "force-dynamic";

/** GET /api/v1/coverage.csv?<filters>: one row per endpoint of the release with its hits. */
export function GET(request: Request): Promise<Response> {
  return answer(async () => {
    const parsed = filtersOf(request);
    if (!parsed.ok) return parsed.response;
    const report = await dashboardData().coverage(parsed.filters);
    return new Response(coverageCsv(report.endpoints), {
      headers: {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": `inline; filename="apisnoop-coverage-${report.release}.csv"`,
        "cache-control": "no-store",
      },
    });
  });
}
