import { BADGE_METRICS, type BadgeMetric, badgeFigures, coverageBadge } from "@apisnoop/coverage";
import { answer, filtersOf, jsonError } from "../../../../http/api-response";
import { dashboardData } from "../../../../server/app-context";

export const dynamic = "force-dynamic";

/**
 * GET /api/v1/badge.svg?<filters>&metric=all|stable|eligible&label=...: a coverage badge for READMEs.
 * `metric` picks the share (default: all endpoints of the selection); `label` the left-hand text.
 */
export function GET(request: Request): Promise<Response> {
  return answer(async () => {
    const parsed = filtersOf(request);
    if (!parsed.ok) return parsed.response;
    const metric = parsed.params.get("metric") ?? "all";
    if (!BADGE_METRICS.includes(metric as BadgeMetric)) {
      return jsonError(400, `metric must be one of ${BADGE_METRICS.join(", ")}, not '${metric}'`);
    }
    const label = (parsed.params.get("label") ?? "k8s API coverage").slice(0, 64);
    const { endpoints } = await dashboardData().coverage(parsed.filters);
    const { hit, total } = badgeFigures(endpoints, metric as BadgeMetric);
    return new Response(coverageBadge(label, hit, total), {
      headers: { "content-type": "image/svg+xml; charset=utf-8", "cache-control": "no-cache, max-age=0" },
    });
  });
}
