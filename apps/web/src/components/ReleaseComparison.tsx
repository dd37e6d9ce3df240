import type { CoverageCount, CoverageDiff } from "@apisnoop/coverage";
import Link from "next/link";
import type { ComparedEndpoint, CompareReport } from "../data/dashboard-data";
import { endpointHref } from "../filters/nav-query";
import { EndpointTable } from "./EndpointTable";
import { LevelBadge } from "./LevelBadge";

const percent = (count: CoverageCount) =>
  count.endpoints === 0 ? "—" : `${((100 * count.tested) / count.endpoints).toFixed(1)}%`;

/** A list that may be long: its count in the summary, the endpoints inside. */
function EndpointList({
  title,
  endpoints,
  query,
  testId,
  callers = false,
}: {
  title: string;
  endpoints: readonly ComparedEndpoint[];
  query: string;
  testId: string;
  /** Show each endpoint's eligibility and the tests or sources that hit it. */
  callers?: boolean;
}) {
  return (
    <details className="panel" open={endpoints.length > 0 && endpoints.length <= 20}>
      <summary>
        <h3 className="inline-heading">
          {title} <span data-testid={`${testId}-count`}>{endpoints.length}</span>
        </h3>
      </summary>
      {callers ? (
        <CallerTable endpoints={endpoints} query={query} testId={testId} />
      ) : (
        <EndpointTable endpoints={endpoints} query={query} testId={testId} />
      )}
    </details>
  );
}

/** Endpoints with their level, conformance-eligibility and the tests or sources that hit them. */
function CallerTable({
  endpoints,
  query,
  testId,
}: {
  endpoints: readonly ComparedEndpoint[];
  query: string;
  testId: string;
}) {
  if (endpoints.length === 0) return <p className="empty">None.</p>;
  return (
    <table className="table" data-testid={testId}>
      <thead>
        <tr>
          <th>endpoint</th>
          <th>level</th>
          <th>conformance-eligible</th>
          <th>tests or sources</th>
          <th className="num">hits</th>
        </tr>
      </thead>
      <tbody>
        {endpoints.map((endpoint) => (
          <tr key={endpoint.operationId} data-operation-id={endpoint.operationId}>
            <td>
              <Link href={endpointHref(endpoint.operationId, query)}>{endpoint.operationId}</Link>
            </td>
            <td>
              <LevelBadge level={endpoint.level} deprecated={endpoint.deprecated} />
            </td>
            <td data-testid="eligible">{endpoint.conformanceEligible ? "yes" : "no"}</td>
            <td data-testid="callers">{(endpoint.callers ?? []).join(", ")}</td>
            <td className="num">{endpoint.hits.toLocaleString("en")}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** What changed in the endpoint set between two releases: counts, then each list. */
export function SpecDiffPanel({ report, query }: { report: CompareReport; query: string }) {
  const { spec } = report;
  const later = `release=${encodeURIComponent(report.to)}${query ? `&${query}` : ""}`;
  const earlier = `release=${encodeURIComponent(report.from)}${query ? `&${query}` : ""}`;
  return (
    <section className="compare-section" aria-labelledby="spec-diff">
      <h2 id="spec-diff">
        Endpoints: {report.from} → {report.to}
      </h2>
      <dl className="figures">
        {(
          [
            ["added", spec.added.length],
            ["removed", spec.removed.length],
            ["promoted", spec.promoted.length],
            ["newly deprecated", spec.newlyDeprecated.length],
          ] as const
        ).map(([label, value]) => (
          <div className="figure" key={label}>
            <dt>{label}</dt>
            <dd data-testid={`spec-${label.replace(" ", "-")}`}>{value}</dd>
          </div>
        ))}
      </dl>
      <EndpointList title="Added" endpoints={spec.added} query={later} testId="spec-added-list" />
      <EndpointList title="Removed" endpoints={spec.removed} query={earlier} testId="spec-removed-list" />
      <details className="panel" open={spec.promoted.length > 0 && spec.promoted.length <= 20}>
        <summary>
          <h3 className="inline-heading">Promoted {spec.promoted.length}</h3>
        </summary>
        {spec.promoted.length === 0 ? (
          <p className="empty">None.</p>
        ) : (
          <table className="table" data-testid="spec-promoted-list">
            <thead>
              <tr>
                <th>in {report.from}</th>
                <th>in {report.to}</th>
              </tr>
            </thead>
            <tbody>
              {spec.promoted.map(({ from, to }) => (
                <tr key={to.operationId} data-operation-id={to.operationId}>
                  <td>
                    {from.operationId} <LevelBadge level={from.level} />
                  </td>
                  <td>
                    <Link href={endpointHref(to.operationId, later)}>{to.operationId}</Link>{" "}
                    <LevelBadge level={to.level} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </details>
      <EndpointList
        title="Newly deprecated"
        endpoints={spec.newlyDeprecated}
        query={later}
        testId="spec-deprecated-list"
      />
    </section>
  );
}

/**
 * How the selection's coverage changed: a row per level, then the endpoints whose coverage changed.
 * `from` and `to` label the sides (releases or time windows); `fromQuery` and `toQuery` are the filter
 * queries of each side, for links to endpoint pages.
 */
export function CoverageDiffPanel({
  coverage,
  from,
  to,
  fromQuery,
  toQuery,
  selection,
  releases,
  callers = false,
}: {
  coverage: CoverageDiff<ComparedEndpoint>;
  from: string;
  to: string;
  fromQuery: string;
  toQuery: string;
  selection: string;
  /** Two releases: endpoints may be added and removed. */
  releases: boolean;
  /** Two runs or clusters: each changed endpoint names its eligibility and who hit it. */
  callers?: boolean;
}) {
  const { counts } = coverage;
  const rows: Array<[string, CoverageCount, CoverageCount]> = [
    ["all endpoints", counts.from.all, counts.to.all],
    ["stable", counts.from.byLevel.stable, counts.to.byLevel.stable],
    ["beta", counts.from.byLevel.beta, counts.to.byLevel.beta],
    ["alpha", counts.from.byLevel.alpha, counts.to.byLevel.alpha],
    ["conformance-eligible", counts.from.conformanceEligible, counts.to.conformanceEligible],
  ];
  return (
    <section className="compare-section" aria-labelledby="coverage-diff">
      <h2 id="coverage-diff">Coverage by {selection}</h2>
      <table className="table" data-testid="coverage-diff">
        <thead>
          <tr>
            <th />
            <th className="num">tested in {from}</th>
            <th className="num">tested in {to}</th>
            <th className="num">change</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(([name, a, b]) => (
            <tr key={name} data-row={name}>
              <td>{name}</td>
              <td className="num">
                {a.tested} / {a.endpoints} · {percent(a)}
              </td>
              <td className="num">
                {b.tested} / {b.endpoints} · {percent(b)}
              </td>
              <td className="num">
                {b.tested - a.tested >= 0 ? "+" : ""}
                {b.tested - a.tested}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <EndpointList
        title="Newly tested"
        endpoints={coverage.newlyTested}
        query={toQuery}
        testId="coverage-newly-tested"
        callers={callers}
      />
      <EndpointList
        title="No longer tested"
        endpoints={coverage.noLongerTested}
        query={fromQuery}
        testId="coverage-no-longer-tested"
        callers={callers}
      />
      {releases && (
        <>
          <EndpointList
            title={`Tested, added in ${to}`}
            endpoints={coverage.testedAdded}
            query={toQuery}
            testId="coverage-tested-added"
          />
          <EndpointList
            title={`Tested in ${from}, removed in ${to}: these calls will fail`}
            endpoints={coverage.testedRemoved}
            query={fromQuery}
            testId="coverage-tested-removed"
          />
        </>
      )}
    </section>
  );
}
