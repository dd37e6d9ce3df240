import { describe, expect, it } from "vitest";
import { ProxyMetrics } from "./metrics";
import { fakeFlow, fakeMatch } from "./testing";

describe("ProxyMetrics", () => {
  it("renders requests by method/code/matched, a latency histogram, upstream errors and analysis failures", () => {
    const metrics = new ProxyMetrics();
    metrics.countFlow(fakeFlow({}, { response: { status: 200 }, durationMs: 3, match: fakeMatch("x") }));
    metrics.countFlow(
      fakeFlow({ method: "POST" }, { response: { status: 502 }, durationMs: 40, match: fakeMatch(null) }),
    );
    metrics.upstreamErrors = 1;
    metrics.countAnalysisFailure("record", "done");
    const text = metrics.render();
    expect(text).toContain('apisnoop_proxy_requests_total{method="GET",code="200",matched="true"} 1');
    expect(text).toContain('apisnoop_proxy_requests_total{method="POST",code="502",matched="false"} 1');
    expect(text).toContain('apisnoop_proxy_request_duration_seconds_bucket{le="0.005"} 1');
    expect(text).toContain('apisnoop_proxy_request_duration_seconds_bucket{le="0.05"} 2');
    expect(text).toContain("apisnoop_proxy_request_duration_seconds_count 2");
    expect(text).toContain("apisnoop_proxy_upstream_errors_total 1");
    expect(text).toContain('apisnoop_proxy_analysis_failures_total{addon="record",hook="done"} 1');
    expect(metrics.analysisFailureTotal).toBe(1);
    for (const line of text.trim().split("\n"))
      expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [\d.e+-]+)$/);
  });

  it("renders the pod directory's size, staleness and failures when there is one", () => {
    const metrics = new ProxyMetrics();
    expect(metrics.render()).not.toContain("apisnoop_proxy_pod_directory_stale");
    metrics.podDirectory = { stats: () => ({ addresses: 12, stale: true, failures: 3 }) };
    const text = metrics.render();
    expect(text).toContain("apisnoop_proxy_pod_addresses 12");
    expect(text).toContain("apisnoop_proxy_pod_directory_stale 1");
    expect(text).toContain("apisnoop_proxy_pod_watch_failures_total 3");
  });
});
