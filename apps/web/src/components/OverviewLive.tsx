"use client";

import { chartName } from "@apisnoop/db/filters";
import { LEVELS, type Level } from "@apisnoop/openapi/level";
import { type LiveDelta, UPSTREAM_E2E } from "@apisnoop/protocol";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { tally } from "../coverage/tally";
import type { CoverageReport, EndpointCoverage, SourceSummaryRow, Tally } from "../data/dashboard-data";
import { endpointHref } from "../filters/nav-query";
import { EndpointTable } from "./EndpointTable";
import { LiveIndicator } from "./LiveIndicator";
import { Sunburst } from "./Sunburst";
import { useLiveDeltas } from "./use-live-deltas";

const FLASH_MS = 1600;
/** Arcs due to go dark within this of the one going dark now go with it (one render instead of two). */
const FLASH_SLACK_MS = 200;

/**
 * The overview's live part: coverage figures, the sunburst and the sources, starting from the server's
 * report and adding live deltas as they arrive (arcs of freshly hit endpoints light up).
 */
export function OverviewLive({ report, query }: { report: CoverageReport; query: string }) {
  const router = useRouter();
  const [endpoints, setEndpoints] = useState<EndpointCoverage[]>(report.endpoints);
  const [hits, setHits] = useState(report.totals.hits);
  const [unknownCalls, setUnknownCalls] = useState(report.totals.unknownCalls);
  const [liveSources, setLiveSources] = useState<Map<string, string>>(new Map());
  const [flashing, setFlashing] = useState<ReadonlySet<string>>(new Set());
  // When each lit arc goes dark (epoch ms), and the one timer that darkens them: a timer per arc re-rendered
  // the whole page once per arc, and a busy delta lights dozens, so the next delta's paint waited.
  const flashUntil = useRef(new Map<string, number>());
  const flashTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  // A new server report (navigation, refresh) replaces what live deltas added.
  useEffect(() => {
    setEndpoints(report.endpoints);
    setHits(report.totals.hits);
    setUnknownCalls(report.totals.unknownCalls);
    setLiveSources(new Map());
  }, [report]);

  useEffect(
    () => () => {
      if (flashTimer.current) clearTimeout(flashTimer.current);
    },
    [],
  );

  const onDelta = useCallback((delta: LiveDelta) => {
    const added = delta.endpoints;
    setEndpoints((current) =>
      current.map((endpoint) => {
        const more = added[endpoint.operationId];
        return more ? { ...endpoint, hits: endpoint.hits + more } : endpoint;
      }),
    );
    setHits((n) => n + delta.hits);
    setUnknownCalls((n) => n + delta.unknownCalls);
    if (delta.sources.length > 0) {
      setLiveSources((current) => {
        const next = new Map(current);
        for (const { key, label } of delta.sources) next.set(key, label);
        return next;
      });
    }
    const ids = Object.keys(added);
    if (ids.length === 0) return;
    const until = flashUntil.current;
    for (const id of ids) until.set(id, Date.now() + FLASH_MS);
    setFlashing(new Set(until.keys()));
    // Darkens, in one render, every arc whose time is up (or nearly: arcs lit by neighbouring deltas go
    // together), then waits for the next one.
    const darken = () => {
      flashTimer.current = null;
      const now = Date.now() + FLASH_SLACK_MS;
      for (const [id, end] of until) if (end <= now) until.delete(id);
      setFlashing(new Set(until.keys()));
      if (until.size > 0) flashTimer.current = setTimeout(darken, Math.min(...until.values()) - Date.now());
    };
    flashTimer.current ??= setTimeout(darken, FLASH_MS);
  }, []);

  const onGap = useCallback(() => router.refresh(), [router]);
  const live = useLiveDeltas(query, onDelta, onGap);

  const tallies = useMemo(() => tally(endpoints), [endpoints]);
  const knownSources = useMemo(() => new Set(report.sources.map((s) => s.key)), [report.sources]);
  const newSources = [...liveSources].filter(([key]) => !knownSources.has(key));
  const suffix = query ? `?${query}` : "";
  const hrefOf = useCallback((operationId: string) => endpointHref(operationId, query), [query]);

  return (
    <div className="overview">
      <section className="summary" aria-label="Coverage">
        <div className="summary-head">
          <h2>
            Release <span data-testid="release">{report.release}</span>
          </h2>
          <Link className="summary-link" href={`/report${suffix}`} data-testid="readiness-link">
            upgrade readiness
          </Link>
          <SourceSwitch query={query} />
          <LiveIndicator status={live.status} lastDeltaAt={live.lastDeltaAt} />
        </div>
        <dl className="figures">
          <Figure label="endpoints hit" tally={tallies.all} testId="figure-all" />
          <Figure label="conformance-eligible hit" tally={tallies.eligible} testId="figure-eligible" />
          {LEVELS.map((level) =>
            tallies.byLevel[level].total > 0 ? (
              <Figure
                key={level}
                label={`${level} hit`}
                tally={tallies.byLevel[level]}
                testId={`figure-${level}`}
                level={level}
              />
            ) : null,
          )}
          <div className="figure">
            <dt>hits</dt>
            <dd data-testid="figure-hits">{hits.toLocaleString("en")}</dd>
          </div>
          <div className="figure">
            <dt>
              <Link href={`/unknown${suffix}`}>unknown calls</Link>
            </dt>
            <dd data-testid="figure-unknown">{unknownCalls.toLocaleString("en")}</dd>
          </div>
          <div className="figure">
            <dt>sources</dt>
            <dd data-testid="figure-sources">
              {(report.sourceCount + newSources.length).toLocaleString("en")}
            </dd>
          </div>
        </dl>
      </section>
      <section className="chart-panel" aria-label="Sunburst">
        <Sunburst
          endpoints={endpoints}
          flashing={flashing}
          endpointHref={hrefOf}
          onOpenEndpoint={(operationId) => router.push(hrefOf(operationId))}
        />
      </section>
      <SourcesTable sources={report.sources} newSources={newSources} query={query} />
      {report.filters.upstream !== "only" && report.filters.name !== UPSTREAM_E2E && (
        <UntestedUpstream endpoints={endpoints} query={query} />
      )}
    </div>
  );
}

/** The three ways to look at sources: all of them, your own traffic, upstream e2e. One click each. */
function SourceSwitch({ query }: { query: string }) {
  const params = new URLSearchParams(query);
  const current = params.get("upstream") ?? "";
  const hrefFor = (choice: string) => {
    const next = new URLSearchParams(query);
    if (next.get("name") === UPSTREAM_E2E) next.delete("name");
    if (choice) next.set("upstream", choice);
    else next.delete("upstream");
    return next.size > 0 ? `/?${next}` : "/";
  };
  const choices: Array<[string, string]> = [
    ["", "all sources"],
    ["none", "your traffic"],
    ["only", "upstream e2e"],
  ];
  return (
    <nav className="source-switch" aria-label="Sources" data-testid="source-switch">
      {choices.map(([choice, label]) => (
        <Link key={label} href={hrefFor(choice)} aria-current={current === choice ? "true" : undefined}>
          {label}
        </Link>
      ))}
    </nav>
  );
}

/** How many endpoints the list shows before pointing at the CSV for the rest. */
const UNTESTED_SHOWN = 25;

/**
 * The endpoints the selection calls that apisnoop's published upstream e2e coverage does not exercise:
 * where a change upstream would reach this workload before any upstream test noticed. Live, as the arcs.
 */
function UntestedUpstream({ endpoints, query }: { endpoints: EndpointCoverage[]; query: string }) {
  if (!endpoints.some((endpoint) => endpoint.upstreamTested !== null)) return null;
  const untested = endpoints
    .filter((endpoint) => endpoint.hits > 0 && endpoint.upstreamTested === false)
    .sort((a, b) => b.hits - a.hits || a.operationId.localeCompare(b.operationId));
  const called = endpoints.filter((endpoint) => endpoint.hits > 0).length;
  return (
    <section className="panel untested-upstream" aria-label="Not tested by upstream e2e">
      <h2>
        Called here, not tested by upstream e2e{" "}
        <span data-testid="untested-upstream-count">{untested.length}</span>
        <span className="muted small"> of {called} endpoints called</span>
      </h2>
      {untested.length === 0 ? (
        <p className="empty">Upstream e2e tests every endpoint this selection calls.</p>
      ) : (
        <>
          <EndpointTable
            endpoints={untested.slice(0, UNTESTED_SHOWN)}
            query={query}
            testId="untested-upstream"
          />
          {untested.length > UNTESTED_SHOWN && (
            <p className="muted small">
              and {untested.length - UNTESTED_SHOWN} more: every endpoint with its <code>upstreamTested</code>{" "}
              mark is in the <a href={`/api/v1/coverage.csv${query ? `?${query}` : ""}`}>CSV</a>.
            </p>
          )}
        </>
      )}
    </section>
  );
}

function Figure({
  label,
  tally,
  testId,
  level,
}: {
  label: string;
  tally: Tally;
  testId: string;
  level?: Level;
}) {
  const share = tally.total === 0 ? 0 : tally.hit / tally.total;
  return (
    <div className={`figure${level ? ` figure-${level}` : ""}`}>
      <dt>{label}</dt>
      <dd data-testid={testId}>
        <span className="figure-percent">{(share * 100).toFixed(1)}%</span>{" "}
        <span className="figure-count">
          {tally.hit} / {tally.total}
        </span>
      </dd>
      <div className="meter" aria-hidden="true">
        <div className="meter-fill" style={{ width: `${share * 100}%` }} />
      </div>
    </div>
  );
}

function SourcesTable({
  sources,
  newSources,
  query,
}: {
  sources: SourceSummaryRow[];
  newSources: Array<[string, string]>;
  query: string;
}) {
  const withFilter = (name: string, value: string) => {
    const params = new URLSearchParams(query);
    params.set(name, value);
    return `/?${params}`;
  };
  return (
    <section className="sources" aria-label="Sources">
      <h2>Sources</h2>
      {sources.length === 0 && newSources.length === 0 ? (
        <p className="empty">No calls recorded for this selection yet.</p>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th>source</th>
              <th className="num">endpoints</th>
              <th className="num">hits</th>
            </tr>
          </thead>
          <tbody>
            {newSources.map(([key, label]) => (
              <tr key={key} className="row-new">
                <td>
                  {label}
                  <div className="muted small">new — reload for its figures</div>
                </td>
                <td />
                <td />
              </tr>
            ))}
            {sources.map((row) => (
              <tr key={row.key}>
                <td>
                  {row.tests !== undefined ? (
                    <>
                      <Link href={withFilter("upstream", "only")}>{row.label}</Link>
                      <div className="muted small">
                        apisnoop&apos;s published coverage, {row.tests.toLocaleString("en")} tests
                      </div>
                    </>
                  ) : row.source.e2eTest ? (
                    <Link href={withFilter("e2eTest", row.source.e2eTest)}>{row.label}</Link>
                  ) : (
                    <Link href={withFilter("userAgent", row.source.userAgent)}>{row.label}</Link>
                  )}
                  {(row.source.chart || row.source.namespace) && (
                    <div className="muted small">
                      {row.source.chart && (
                        <Link href={`/charts/${encodeURIComponent(chartName(row.source.chart))}`}>
                          chart {row.source.chart}
                        </Link>
                      )}
                      {row.source.chart && row.source.namespace ? " · " : ""}
                      {row.source.namespace && (
                        <Link href={withFilter("namespace", row.source.namespace)}>
                          {row.source.namespace}
                        </Link>
                      )}
                      {row.source.pod && (
                        <>
                          {" / "}
                          <Link href={withFilter("pod", row.source.pod)}>{row.source.pod}</Link>
                        </>
                      )}
                    </div>
                  )}
                </td>
                <td className="num">{row.endpoints}</td>
                <td className="num">{row.hits.toLocaleString("en")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
