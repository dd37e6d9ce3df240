import type { Flow } from "./flow";
import type { PodDirectoryStats } from "./pod-directory";
import type { UplinkStats } from "./uplink/uplink";
import type { BoundedPoolStats } from "./upstream";
import type { RetryReason } from "./upstream-retry";
import type { UpstreamSessionStats } from "./upstream-sessions";

/** Upper bounds (seconds) of the request latency histogram; long watches land in +Inf. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The proxy's own counters, rendered as Prometheus text on the admin port. Plain maps instead of a client
 * library: the hot path does one map increment per request.
 */
export class ProxyMetrics {
  private readonly requests = new Map<string, number>();
  private readonly latencyCounts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  private latencySum = 0;
  private latencyCount = 0;
  private readonly analysisFailures = new Map<string, number>();
  private readonly specRefreshes = new Map<string, number>();
  private readonly timeouts = new Map<string, number>();
  private readonly connects = new Map<string, number>();
  private readonly refused = new Map<string, number>();
  private readonly tlsErrors = new Map<string, number>();
  private readonly uncaught = new Map<string, number>();
  private readonly protocols = new Map<string, number>();
  private readonly http2Errors = new Map<string, number>();
  private readonly upstreamRetries = new Map<string, number>();
  /** The request bodies held to retry requests the apiserver did not process (set by the relay). */
  retryBudget: { readonly heldBytes: number } | null = null;
  /** Client HTTP/2 sessions (connections that negotiated h2) open now. */
  http2Sessions = 0;
  /** Client HTTP/2 streams the client reset before their answer ended (rapid reset shows here first). */
  http2StreamsReset = 0;
  /** The HTTP/2 sessions to the apiserver, when there are any. */
  upstreamSessions: { stats(): UpstreamSessionStats } | null = null;
  /** The HTTP/1.1 pool requests the apiserver takes as unauthenticated go over, when there is one. */
  unauthenticatedPool: { stats(): BoundedPoolStats } | null = null;
  upstreamErrors = 0;
  inFlight = 0;
  /** Client connections accepted, and open now. */
  connectionsAccepted = 0;
  connectionsOpen = 0;
  /** Connections closed on accept because `maxConnections` were open. */
  connectionsRefused = 0;
  /** Accept calls that failed (EMFILE, ENFILE). */
  acceptErrors = 0;
  /** TLS handshakes naming a server the proxy's leaf does not cover (answered with that leaf anyway). */
  tlsUnknownNames = 0;
  /** Leaf certificates the proxy holds (issued at start-up only). */
  leafCertificates = 1;
  /** 1 while the proxy drains after SIGTERM. */
  draining = false;
  specOperations = 0;
  /** TLS handshake turns (their waiting connections), when the proxy serves TLS. */
  handshakes: { waiting: number; rateDelays: number } | null = null;
  /** Turns to open an upstream session alone (an unauthenticated body or watch), when there are any. */
  sessionsAlone: { waiting: number; rateDelays: number } | null = null;
  /** The delivery uplink, when there is one. */
  uplink: { stats(): UplinkStats } | null = null;
  /** The pod directory source attribution reads, when there is one. */
  podDirectory: { stats(): PodDirectoryStats } | null = null;

  /** Counts a finished flow: by method, status and whether it matched an operation; and its latency. */
  countFlow(flow: Flow): void {
    const matched = flow.match?.operationId ? "true" : "false";
    const key = `method="${flow.request.method}",code="${flow.response?.status ?? 0}",matched="${matched}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    const seconds = (flow.durationMs ?? 0) / 1000;
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[bucket] as number)) bucket++;
    this.latencyCounts[bucket] = (this.latencyCounts[bucket] ?? 0) + 1;
    this.latencySum += seconds;
    this.latencyCount++;
  }

  /** Counts an addon that threw: analysis failed, the request did not. */
  countAnalysisFailure(addon: string, hook: string): void {
    const key = `addon="${addon}",hook="${hook}"`;
    this.analysisFailures.set(key, (this.analysisFailures.get(key) ?? 0) + 1);
  }

  /** Counts a connection closed for a timeout: "first byte", "tunnel idle". */
  countTimeout(phase: string): void {
    bump(this.timeouts, phase);
  }

  /** Counts a CONNECT by what was done with it: intercept, tunnel, refuse. */
  countConnect(action: string): void {
    bump(this.connects, action);
  }

  /** Counts a request answered by the proxy itself with 4xx: absolute-form, malformed, too large, ... */
  countRefused(reason: string): void {
    bump(this.refused, reason);
  }

  /** Counts a TLS handshake that failed on the client side (bounded kinds: timeout, reset, alert, malformed). */
  countTlsError(kind: string): void {
    bump(this.tlsErrors, kind);
  }

  /** Counts a request by the protocol its client spoke and the one it went upstream over. */
  countProtocols(client: "h1" | "h2", upstream: "h1" | "h2"): void {
    bump(this.protocols, PROTOCOL_LABELS[client][upstream]);
  }

  /** Counts a request sent upstream again because the apiserver did not process it (upstream-retry.ts). */
  countUpstreamRetry(reason: RetryReason): void {
    bump(this.upstreamRetries, reason);
  }

  /** Counts a client HTTP/2 session that failed or was closed for misbehaving (bounded kinds). */
  countHttp2Error(kind: string): void {
    bump(this.http2Errors, kind);
  }

  /** Counts an exception nothing caught (the process-level last resort). */
  countUncaught(kind: "exception" | "rejection"): void {
    bump(this.uncaught, kind);
  }

  /** Counts a spec (re)load attempt. */
  countSpecRefresh(result: "ok" | "error"): void {
    this.specRefreshes.set(result, (this.specRefreshes.get(result) ?? 0) + 1);
  }

  /** Total analysis failures, for tests and logs. */
  get analysisFailureTotal(): number {
    let total = 0;
    for (const n of this.analysisFailures.values()) total += n;
    return total;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) =>
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

    family(
      "apisnoop_proxy_requests_total",
      "counter",
      "Requests proxied, by method, status code and whether an operation matched.",
    );
    for (const [labels, n] of this.requests) lines.push(`apisnoop_proxy_requests_total{${labels}} ${n}`);

    family("apisnoop_proxy_request_duration_seconds", "histogram", "Request start to last response byte.");
    let cumulative = 0;
    LATENCY_BUCKETS.forEach((le, i) => {
      cumulative += this.latencyCounts[i] ?? 0;
      lines.push(`apisnoop_proxy_request_duration_seconds_bucket{le="${le}"} ${cumulative}`);
    });
    lines.push(`apisnoop_proxy_request_duration_seconds_bucket{le="+Inf"} ${this.latencyCount}`);
    lines.push(`apisnoop_proxy_request_duration_seconds_sum ${this.latencySum}`);
    lines.push(`apisnoop_proxy_request_duration_seconds_count ${this.latencyCount}`);

    family(
      "apisnoop_proxy_upstream_errors_total",
      "counter",
      "Requests the upstream could not answer (the client got a 502 Status).",
    );
    lines.push(`apisnoop_proxy_upstream_errors_total ${this.upstreamErrors}`);
    labelled(
      lines,
      family,
      "apisnoop_proxy_upstream_retries_total",
      "Requests sent upstream again because the apiserver did not process them, by reason.",
      "reason",
      this.upstreamRetries,
    );
    if (this.retryBudget) {
      family(
        "apisnoop_proxy_upstream_retry_body_bytes",
        "gauge",
        "Bytes of request bodies held to send again should the apiserver not process them.",
      );
      lines.push(`apisnoop_proxy_upstream_retry_body_bytes ${this.retryBudget.heldBytes}`);
    }

    family(
      "apisnoop_proxy_analysis_failures_total",
      "counter",
      "Addon hooks that threw; the requests themselves were not affected.",
    );
    if (this.analysisFailures.size === 0) lines.push("apisnoop_proxy_analysis_failures_total 0");
    for (const [labels, n] of this.analysisFailures)
      lines.push(`apisnoop_proxy_analysis_failures_total{${labels}} ${n}`);

    family(
      "apisnoop_proxy_in_flight_requests",
      "gauge",
      "Requests (and upgraded connections) currently open.",
    );
    lines.push(`apisnoop_proxy_in_flight_requests ${this.inFlight}`);

    family("apisnoop_proxy_connections_accepted_total", "counter", "Client connections accepted.");
    lines.push(`apisnoop_proxy_connections_accepted_total ${this.connectionsAccepted}`);
    family("apisnoop_proxy_connections_open", "gauge", "Client connections open now.");
    lines.push(`apisnoop_proxy_connections_open ${this.connectionsOpen}`);
    family(
      "apisnoop_proxy_connections_refused_total",
      "counter",
      "Connections closed on accept because --max-connections were open.",
    );
    lines.push(`apisnoop_proxy_connections_refused_total ${this.connectionsRefused}`);
    family(
      "apisnoop_proxy_accept_errors_total",
      "counter",
      "Accepting a connection failed (EMFILE, ENFILE).",
    );
    lines.push(`apisnoop_proxy_accept_errors_total ${this.acceptErrors}`);
    labelled(
      lines,
      family,
      "apisnoop_proxy_timeouts_total",
      "Connections closed for a timeout, by phase.",
      "phase",
      this.timeouts,
    );
    labelled(
      lines,
      family,
      "apisnoop_proxy_connects_total",
      "CONNECT requests, by what was done with them.",
      "action",
      this.connects,
    );
    labelled(
      lines,
      family,
      "apisnoop_proxy_refused_requests_total",
      "Requests the proxy answered itself with 4xx instead of forwarding, by reason.",
      "reason",
      this.refused,
    );
    labelled(
      lines,
      family,
      "apisnoop_proxy_tls_handshake_errors_total",
      "Failed client TLS handshakes, by kind.",
      "kind",
      this.tlsErrors,
    );
    family(
      "apisnoop_proxy_tls_unknown_server_names_total",
      "counter",
      "Handshakes naming a server the proxy's certificate does not cover.",
    );
    lines.push(`apisnoop_proxy_tls_unknown_server_names_total ${this.tlsUnknownNames}`);
    family(
      "apisnoop_proxy_tls_handshakes_waiting",
      "gauge",
      "Connections waiting for their client address's turn to start a TLS handshake.",
    );
    lines.push(`apisnoop_proxy_tls_handshakes_waiting ${this.handshakes?.waiting ?? 0}`);
    family(
      "apisnoop_proxy_tls_handshake_rate_delays_total",
      "counter",
      "Times a client address's next TLS handshake waited for its rate (--handshake-rate-per-address).",
    );
    lines.push(`apisnoop_proxy_tls_handshake_rate_delays_total ${this.handshakes?.rateDelays ?? 0}`);
    family("apisnoop_proxy_leaf_certificates", "gauge", "Leaf certificates held (all issued at start-up).");
    lines.push(`apisnoop_proxy_leaf_certificates ${this.leafCertificates}`);
    labelled(
      lines,
      family,
      "apisnoop_proxy_uncaught_errors_total",
      "Exceptions nothing caught, counted by the process-level last resort instead of ending the process.",
      "kind",
      this.uncaught,
    );
    family(
      "apisnoop_proxy_requests_by_protocol_total",
      "counter",
      "Requests by the protocol the client spoke (h1, h2) and the one they went upstream over.",
    );
    if (this.protocols.size === 0) lines.push("apisnoop_proxy_requests_by_protocol_total 0");
    for (const [labels, n] of this.protocols)
      lines.push(`apisnoop_proxy_requests_by_protocol_total{${labels}} ${n}`);
    family("apisnoop_proxy_http2_sessions", "gauge", "Client connections speaking HTTP/2 open now.");
    lines.push(`apisnoop_proxy_http2_sessions ${this.http2Sessions}`);
    family(
      "apisnoop_proxy_http2_streams_reset_total",
      "counter",
      "Client HTTP/2 streams reset by the client before their answer ended (cancelled requests and watches; a rapid-reset flood).",
    );
    lines.push(`apisnoop_proxy_http2_streams_reset_total ${this.http2StreamsReset}`);
    labelled(
      lines,
      family,
      "apisnoop_proxy_http2_session_errors_total",
      "Client HTTP/2 sessions closed for an error or for misbehaving (floods, oversized headers, resets), by kind.",
      "kind",
      this.http2Errors,
    );
    if (this.upstreamSessions) {
      const stats = this.upstreamSessions.stats();
      family("apisnoop_proxy_upstream_sessions", "gauge", "HTTP/2 sessions to the apiserver open now.");
      lines.push(`apisnoop_proxy_upstream_sessions ${stats.sessions}`);
      family(
        "apisnoop_proxy_upstream_streams",
        "gauge",
        "Requests open on HTTP/2 sessions to the apiserver.",
      );
      lines.push(`apisnoop_proxy_upstream_streams ${stats.streams}`);
      family(
        "apisnoop_proxy_upstream_sessions_opened_total",
        "counter",
        "HTTP/2 sessions to the apiserver opened.",
      );
      lines.push(`apisnoop_proxy_upstream_sessions_opened_total ${stats.opened}`);
      family(
        "apisnoop_proxy_upstream_session_overflows_total",
        "counter",
        "Requests sent over HTTP/1.1 because every upstream HTTP/2 session slot was busy.",
      );
      lines.push(`apisnoop_proxy_upstream_session_overflows_total ${stats.overflows}`);
      family(
        "apisnoop_proxy_upstream_rejected_credentials",
        "gauge",
        "Bearer tokens the apiserver answered 401, remembered (hashed) so their requests go over HTTP/1.1.",
      );
      lines.push(`apisnoop_proxy_upstream_rejected_credentials ${stats.rejectedCredentials}`);
    }
    if (this.unauthenticatedPool) {
      const stats = this.unauthenticatedPool.stats();
      family(
        "apisnoop_proxy_upstream_unauthenticated_requests_total",
        "counter",
        "Requests sent over HTTP/1.1 because the apiserver takes them as unauthenticated (anonymous, a rejected token).",
      );
      lines.push(`apisnoop_proxy_upstream_unauthenticated_requests_total ${stats.sent}`);
      family(
        "apisnoop_proxy_upstream_unauthenticated_active",
        "gauge",
        "Unauthenticated requests on one of the HTTP/1.1 pool's connections now.",
      );
      lines.push(`apisnoop_proxy_upstream_unauthenticated_active ${stats.active}`);
      family(
        "apisnoop_proxy_upstream_unauthenticated_queued",
        "gauge",
        "Unauthenticated requests waiting for one of the pool's connections (past the queue's bound: 429).",
      );
      lines.push(`apisnoop_proxy_upstream_unauthenticated_queued ${stats.queued}`);
      family(
        "apisnoop_proxy_upstream_unauthenticated_overflows_total",
        "counter",
        "Requests of remembered-rejected tokens sent over HTTP/2 because the pool, or their address's share of it, was full.",
      );
      lines.push(`apisnoop_proxy_upstream_unauthenticated_overflows_total ${stats.overflows}`);
    }
    if (this.sessionsAlone) {
      family(
        "apisnoop_proxy_upstream_sessions_alone_waiting",
        "gauge",
        "Unauthenticated requests with a body or a watch waiting for their client address's turn to open an upstream session of their own.",
      );
      lines.push(`apisnoop_proxy_upstream_sessions_alone_waiting ${this.sessionsAlone.waiting}`);
      family(
        "apisnoop_proxy_upstream_sessions_alone_rate_delays_total",
        "counter",
        "Times a client address's next upstream session of its own waited for its rate.",
      );
      lines.push(`apisnoop_proxy_upstream_sessions_alone_rate_delays_total ${this.sessionsAlone.rateDelays}`);
    }
    family("apisnoop_proxy_draining", "gauge", "1 while the proxy drains (SIGTERM): /healthz answers 503.");
    lines.push(`apisnoop_proxy_draining ${this.draining ? 1 : 0}`);

    family("apisnoop_proxy_spec_refreshes_total", "counter", "Spec loads, by result.");
    for (const [result, n] of this.specRefreshes)
      lines.push(`apisnoop_proxy_spec_refreshes_total{result="${result}"} ${n}`);

    family("apisnoop_proxy_spec_operations", "gauge", "Operations in the spec requests are matched against.");
    lines.push(`apisnoop_proxy_spec_operations ${this.specOperations}`);

    if (this.podDirectory) {
      const stats = this.podDirectory.stats();
      family("apisnoop_proxy_pod_addresses", "gauge", "Pod IPs the pod directory knows.");
      lines.push(`apisnoop_proxy_pod_addresses ${stats.addresses}`);
      family(
        "apisnoop_proxy_pod_directory_stale",
        "gauge",
        "1 from a failed list or watch of pods until a watch has been open a second: pod attribution may be out of date.",
      );
      lines.push(`apisnoop_proxy_pod_directory_stale ${stats.stale ? 1 : 0}`);
      family(
        "apisnoop_proxy_pod_watch_failures_total",
        "counter",
        "Lists and watches of pods that failed (410 Gone not counted); each is retried after a growing delay.",
      );
      lines.push(`apisnoop_proxy_pod_watch_failures_total ${stats.failures}`);
    }

    if (this.uplink) {
      const stats = this.uplink.stats();
      family("apisnoop_uplink_connected", "gauge", "1 while the ingest connection to the web app is up.");
      lines.push(`apisnoop_uplink_connected ${stats.connected ? 1 : 0}`);
      family("apisnoop_uplink_spool_batches", "gauge", "Batches spooled and not yet acknowledged.");
      lines.push(`apisnoop_uplink_spool_batches ${stats.spoolBatches}`);
      family("apisnoop_uplink_spool_bytes", "gauge", "Bytes of spooled batches not yet acknowledged.");
      lines.push(`apisnoop_uplink_spool_bytes ${stats.spoolBytes}`);
      family("apisnoop_uplink_spool_full", "gauge", "1 while the spool is full and rollups wait in memory.");
      lines.push(`apisnoop_uplink_spool_full ${stats.spoolFull ? 1 : 0}`);
      family("apisnoop_uplink_batches_acked_total", "counter", "Batches the web app committed.");
      lines.push(`apisnoop_uplink_batches_acked_total ${stats.batchesAcked}`);
      family("apisnoop_uplink_batches_refused_total", "counter", "Batches the web app refused for good.");
      lines.push(`apisnoop_uplink_batches_refused_total ${stats.batchesRefused}`);
      family("apisnoop_uplink_hits_pending", "gauge", "Hits counted but not yet in a spooled batch.");
      lines.push(`apisnoop_uplink_hits_pending ${stats.hitsPending}`);
      family("apisnoop_uplink_rows_pending", "gauge", "Rollup rows held in memory, not yet spooled.");
      lines.push(`apisnoop_uplink_rows_pending ${stats.rowsPending}`);
      family(
        "apisnoop_uplink_bucket_minutes",
        "gauge",
        "Minutes per time bucket of the rollups in memory: 1, or 60 and 1440 while nothing can be spooled.",
      );
      lines.push(`apisnoop_uplink_bucket_minutes ${stats.bucketMinutes}`);
      family(
        "apisnoop_uplink_hits_dropped_total",
        "counter",
        "Hits not counted: nothing could be spooled and memory held its bound of day rollup rows.",
      );
      lines.push(`apisnoop_uplink_hits_dropped_total ${stats.hitsDropped}`);
      family(
        "apisnoop_uplink_fields_dropped_total",
        "counter",
        "Field uses not counted, for the same reason.",
      );
      lines.push(`apisnoop_uplink_fields_dropped_total ${stats.fieldsDropped}`);
      family(
        "apisnoop_uplink_spool_quarantined_total",
        "counter",
        "Spool files that could not be read, and batches the web app refused, kept in the quarantine folder.",
      );
      lines.push(`apisnoop_uplink_spool_quarantined_total ${stats.spoolQuarantined}`);
      family(
        "apisnoop_uplink_quarantine_overflow_total",
        "counter",
        "Refused batches not kept: the quarantine folder held its bound (64 MiB) or could not be written.",
      );
      lines.push(`apisnoop_uplink_quarantine_overflow_total ${stats.quarantineOverflow}`);
      family(
        "apisnoop_uplink_hits_unjournalled_total",
        "counter",
        "Hits counted in memory but not journalled: a journal write failed or 8 MiB waited for the disk.",
      );
      lines.push(`apisnoop_uplink_hits_unjournalled_total ${stats.hitsUnjournalled}`);
      family(
        "apisnoop_uplink_send_failures_total",
        "counter",
        "Batches the web app did not take (no answer in time, or asked to retry).",
      );
      lines.push(`apisnoop_uplink_send_failures_total ${stats.sendFailures}`);
      family(
        "apisnoop_uplink_retry_delay_seconds",
        "gauge",
        "Time left before the next send after a failure.",
      );
      lines.push(`apisnoop_uplink_retry_delay_seconds ${(stats.retryDelayMs / 1000).toFixed(3)}`);
    }
    return `${lines.join("\n")}\n`;
  }
}

/** The label pairs of `requests_by_protocol`, made once instead of per request. */
const PROTOCOL_LABELS = {
  h1: { h1: 'client="h1",upstream="h1"', h2: 'client="h1",upstream="h2"' },
  h2: { h1: 'client="h2",upstream="h1"', h2: 'client="h2",upstream="h2"' },
} as const;

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** A counter family with one label; a family with no sample yet shows 0 so dashboards see it exists. */
function labelled(
  lines: string[],
  family: (name: string, type: string, help: string) => void,
  name: string,
  help: string,
  label: string,
  values: Map<string, number>,
): void {
  family(name, "counter", help);
  if (values.size === 0) lines.push(`${name} 0`);
  for (const [value, n] of values) lines.push(`${name}{${label}="${value}"} ${n}`);
}
