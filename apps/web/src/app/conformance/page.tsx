import Link from "next/link";
import { FilterError } from "../../components/FilterError";
import { NoRelease } from "../../components/NoRelease";
import { ReleasePicker } from "../../components/ReleasePicker";
import type { ConformanceReport } from "../../data/dashboard-data";
import { endpointHref } from "../../filters/nav-query";
import { loadForPage } from "../../http/page-data";
import { type PageProps, toSearchParams } from "../../http/search-params";
import { dashboardData } from "../../server/app-context";

export const dynamic = "force-dynamic";

const RELEASE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$/;

/**
 * `/conformance?release=1.34`: a release's stable endpoints as apisnoop's conformance-progress page
 * splits them — eligible (tested by a conformance test or not), ineligible with the reason, deprecated —
 * from the imported upstream e2e data (`apisnoop import apisnoop`).
 */
export default async function ConformancePage({ searchParams }: PageProps) {
  const data = dashboardData();
  const params = toSearchParams(await searchParams);
  const given = params.getAll("release").filter((value) => value.trim() !== "");
  if (given.length > 1) {
    return <FilterError error={`invalid filter release: given ${given.length} times`} path="/conformance" />;
  }
  if (given[0] !== undefined && !RELEASE.test(given[0].trim())) {
    return (
      <FilterError error='invalid filter release: a release is a name like "1.34"' path="/conformance" />
    );
  }
  const releases = await data.releases();
  if (releases.length === 0) return <NoRelease />;
  const loaded = await loadForPage(() => data.conformance(given[0]?.trim()));
  if (!loaded.ok) return <FilterError error={loaded.error} path="/conformance" />;
  const report = loaded.value;
  const query = `release=${encodeURIComponent(report.release)}`;
  return (
    <>
      <ReleasePicker
        action="/conformance"
        releases={releases}
        fields={[{ name: "release", label: "release", value: report.release }]}
        carry={new URLSearchParams()}
      />
      <div className="page-title">
        <h1 data-testid="conformance-title">Conformance coverage of {report.release}</h1>
        <p>
          Which stable endpoints conformance tests must cover and which they do, from upstream e2e's coverage
          as imported (<code>apisnoop import apisnoop --release {report.release}</code>, the source{" "}
          <Link href={`/?${query}&name=upstream-e2e`}>upstream-e2e</Link>).
        </p>
      </div>
      {report.testedEndpoints === 0 && (
        <section className="notice" role="status" data-testid="no-upstream">
          <h2>No upstream e2e data for {report.release}</h2>
          <p>
            Nothing of the source upstream-e2e is stored for this release: run{" "}
            <code>apisnoop import apisnoop --release {report.release}</code> to load apisnoop&apos;s published
            coverage.
          </p>
        </section>
      )}
      <Figures report={report} />
      <EligibleExplanation report={report} />
      <div className="detail-grid">
        <section className="panel">
          <h2>
            Eligible, not tested by a conformance test{" "}
            <span data-testid="untested-count">{report.eligibleUntested.length}</span>
          </h2>
          <p className="muted small">
            The tests worth writing next. “e2e” marks those some other e2e test hits.
          </p>
          <EndpointRows endpoints={report.eligibleUntested} query={query} testId="untested-list" showE2e />
        </section>
        <section className="panel">
          <h2>
            Ineligible <span data-testid="ineligible-count">{report.ineligible.length}</span>
          </h2>
          <p className="muted small">
            Stable endpoints listed in apisnoop&apos;s <code>ineligible_endpoints.json</code>, with its
            reasons.
          </p>
          {report.ineligible.length === 0 ? (
            <p className="empty">None.</p>
          ) : (
            <table className="table" data-testid="ineligible-list">
              <thead>
                <tr>
                  <th>endpoint</th>
                  <th>reason</th>
                </tr>
              </thead>
              <tbody>
                {report.ineligible.map(({ endpoint, reason, link }) => (
                  <tr key={endpoint.operationId} data-operation-id={endpoint.operationId}>
                    <td>
                      <Link href={endpointHref(endpoint.operationId, query)}>{endpoint.operationId}</Link>
                    </td>
                    <td>{link ? <a href={link}>{reason || link}</a> : reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section className="panel">
          <h2>
            Deprecated stable endpoints <span data-testid="deprecated-count">{report.deprecated.length}</span>
          </h2>
          <p className="muted small">Not eligible: their description says they are deprecated.</p>
          <EndpointRows endpoints={report.deprecated} query={query} testId="deprecated-list" />
        </section>
      </div>
    </>
  );
}

/** The release's figures, in apisnoop's terms. */
function Figures({ report }: { report: ConformanceReport }) {
  const share = (part: number, whole: number) =>
    whole === 0 ? "—" : `${((100 * part) / whole).toFixed(1)}%`;
  const figures: Array<[string, string, string]> = [
    ["total", "endpoints", String(report.totalEndpoints)],
    ["tested", "tested by upstream e2e", String(report.testedEndpoints)],
    ["stable", "stable", String(report.stable)],
    ["eligible", "conformance-eligible", String(report.eligible.length)],
    [
      "eligible-tested",
      "eligible, tested by conformance",
      `${report.eligibleTested.length} · ${share(report.eligibleTested.length, report.eligible.length)}`,
    ],
    ["untested", "eligible, untested", String(report.eligibleUntested.length)],
    ["ineligible", "ineligible (listed)", String(report.ineligible.length)],
    ["deprecated", "stable, deprecated", String(report.deprecated.length)],
  ];
  return (
    <section className="panel">
      <dl className="figures">
        {figures.map(([id, label, value]) => (
          <div className="figure" key={id}>
            <dt>{label}</dt>
            <dd data-testid={`conformance-${id}`}>{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

/** Ours next to apisnoop's published figures, and why the eligible count differs before 1.35. */
function EligibleExplanation({ report }: { report: ConformanceReport }) {
  const published = report.published;
  const differs = published?.eligible != null && published.eligible !== report.eligible.length;
  return (
    <section className="panel" data-testid="published-comparison">
      <h2>Compared with apisnoop&apos;s published figures</h2>
      {published ? (
        <table className="table">
          <thead>
            <tr>
              <th />
              <th className="num">here</th>
              <th className="num">apisnoop</th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <td>total endpoints</td>
              <td className="num">{report.totalEndpoints}</td>
              <td className="num">{published.totalEndpoints}</td>
            </tr>
            <tr>
              <td>tested endpoints</td>
              <td className="num">{report.testedEndpoints}</td>
              <td className="num">{published.testedEndpoints}</td>
            </tr>
            <tr data-testid="eligible-row" data-differs={differs ? "true" : "false"}>
              <td>conformance-eligible</td>
              <td className="num">{report.eligible.length}</td>
              <td className="num">{published.eligible ?? "—"}</td>
            </tr>
            <tr>
              <td>eligible, tested by conformance</td>
              <td className="num">{report.eligibleTested.length}</td>
              <td className="num">{published.eligibleTested ?? "—"}</td>
            </tr>
          </tbody>
        </table>
      ) : (
        <p className="muted">apisnoop&apos;s coverage file for {report.release} was not read.</p>
      )}
      <p data-testid="eligible-explanation">
        Eligible means stable, not deprecated and not listed in <code>ineligible_endpoints.json</code>.
        apisnoop computed each release&apos;s figures with the list <em>of that time</em>; only the current
        list is published, and endpoints were added to it since. So for releases before 1.35 we count a few
        endpoints fewer as eligible (1.28–1.34: 457, 478, 495, 495, 498, 508, 549 here against apisnoop&apos;s
        461, 482, 497, 497, 500, 510, 551). Total and tested endpoints are the same as apisnoop&apos;s for
        every release, and from 1.35 on so are both eligible figures.
        {differs && published?.eligible != null && (
          <>
            {" "}
            For {report.release}: {report.eligible.length} here, {published.eligible} at apisnoop (
            {published.eligible - report.eligible.length} listed as ineligible since).
          </>
        )}
      </p>
      <p className="muted small">
        &ldquo;Tested by conformance&rdquo; counts the endpoints apisnoop&apos;s per-endpoint data marks as
        hit by a conformance test. Before 1.35 apisnoop&apos;s summary figure is higher than those marks
        allow, even counting every stable endpoint (1.34: 505 in the summary, 462 eligible endpoints marked
        here), so that figure cannot be reproduced from the published data; from 1.35 on the two agree.
      </p>
    </section>
  );
}

/** A compact list of endpoints linking to their pages. */
function EndpointRows({
  endpoints,
  query,
  testId,
  showE2e = false,
}: {
  endpoints: ConformanceReport["eligible"];
  query: string;
  testId: string;
  showE2e?: boolean;
}) {
  if (endpoints.length === 0) return <p className="empty">None.</p>;
  return (
    <table className="table" data-testid={testId}>
      <thead>
        <tr>
          <th>endpoint</th>
          <th>method and path</th>
          {showE2e && <th>e2e</th>}
        </tr>
      </thead>
      <tbody>
        {endpoints.map((endpoint) => (
          <tr key={endpoint.operationId} data-operation-id={endpoint.operationId}>
            <td>
              <Link href={endpointHref(endpoint.operationId, query)}>{endpoint.operationId}</Link>
            </td>
            <td className="mono">
              {endpoint.method} {endpoint.path}
            </td>
            {showE2e && <td>{endpoint.tested ? "e2e" : ""}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
