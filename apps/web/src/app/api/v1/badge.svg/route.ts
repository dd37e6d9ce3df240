import { answer, filtersOf, jsonError } from "../../../../http/api-response";
import { BADGE_METRICS, type BadgeMetric, coverageBadge } from "../../../../reports/coverage-badge";
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
    const { totals } = await dashboardData().coverage(parsed.filters);
    const tally =
      metric === "stable"
        ? totals.byLevel.stable
        : metric === "eligible"
          ? totals.conformanceEligible
          : totals.all;
    return new Response(coverageBadge(label, tally.hit, tally.total), {
      headers: { "content-type": "image/svg+xml; charset=utf-8", "cache-control": "no-cache, max-age=0" },
    });
  });
}
