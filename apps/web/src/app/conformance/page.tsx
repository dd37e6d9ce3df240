import { isWellFormedReleaseName } from "@apisnoop/openapi/release-name";
import Link from "next/link";
import { FilterError } from "../../components/FilterError";
import { NoRelease } from "../../components/NoRelease";
import { ReleasePicker } from "../../components/ReleasePicker";
import { UpstreamImportNotice } from "../../components/UpstreamImportNotice";
import type { ConformanceReport } from "../../data/dashboard-data";
import { endpointHref } from "../../filters/nav-query";
import { loadForPage } from "../../http/page-data";
import { type PageProps, toSearchParams } from "../../http/search-params";
import { dashboardData } from "../../server/app-context";

export const dynamic = "force-dynamic";

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
  if (given[0] !== undefined && !isWellFormedReleaseName(given[0].trim())) {
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
  const imports = data.upstreamImports();
  const importing = imports.some(
    (state) => state.release === report.release && (state.state === "waiting" || state.state === "importing"),
  );
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
      <UpstreamImportNotice states={imports} />
      {report.testedEndpoints === 0 && !importing && (
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
      <FieldCoverage report={report} query={query} />
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
  const figures: Array<[string, string, string]> = [
    ["total", "endpoints", String(report.totalEndpoints)],
    ["tested", "tested by upstream e2e", String(report.testedEndpoints)],
    ["stable", "stable", String(report.stable)],
    ["eligible", "conformance-eligible", String(report.eligible.length)],
    [
      "eligible-tested",
      "eligible, tested by conformance",
      `${report.eligibleTested.length} · ${percent(report.eligibleTested.length, report.eligible.length)}`,
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

const percent = (part: number, whole: number) =>
  whole === 0 ? "—" : `${((100 * part) / whole).toFixed(1)}%`;

/**
 * Field-level coverage: the share of eligible endpoints' request-schema fields that the conformance runs
 * recorded through the proxy sent, next to the share of eligible endpoints those runs hit, and the runs.
 */
function FieldCoverage({ report, query }: { report: ConformanceReport; query: string }) {
  const { fields } = report;
  const { totals } = fields;
  return (
    <section className="panel" data-testid="field-coverage">
      <h2>Request fields of eligible endpoints sent by conformance tests</h2>
      <p className="muted small">
        Of each conformance-eligible endpoint that takes a request body, how many field paths of its request
        schema (objects and leaves, <code>[]</code> array items, <code>{"{}"}</code> map values; a PATCH
        counts the object it patches) the conformance tests recorded through the proxy sent. apisnoop&apos;s
        published data has endpoints but no fields, so these figures come from the runs below only.
      </p>
      {!fields.schemasStored && (
        <p className="notice" role="status">
          Request schemas are not stored for {report.release}: it was loaded by an older apisnoop. Restart the
          dashboard (or <code>apisnoop spec add --release {report.release}</code>) to load it again.
        </p>
      )}
      <dl className="figures">
        {(
          [
            [
              "fields-sent",
              "request-schema fields sent",
              `${totals.sent.toLocaleString("en")} of ${totals.schemaFields.toLocaleString("en")} · ${percent(totals.sent, totals.schemaFields)}`,
            ],
            [
              "endpoints-hit",
              "eligible endpoints these runs hit",
              `${totals.eligibleTestedByRun} of ${totals.eligible} · ${percent(totals.eligibleTestedByRun, totals.eligible)}`,
            ],
            ["with-body", "eligible endpoints with a request body", String(totals.withBody)],
          ] as const
        ).map(([id, label, value]) => (
          <div className="figure" key={id}>
            <dt>{label}</dt>
            <dd data-testid={`conformance-${id}`}>{value}</dd>
          </div>
        ))}
      </dl>
      {fields.runs.length === 0 ? (
        <p className="empty" data-testid="no-runs">
          No conformance test of {report.release} was recorded through the proxy: run{" "}
          <code>npm run e2e:conformance</code>, or <code>e2e.test</code> with{" "}
          <code>--kubeconfig apisnoop.kubeconfig</code>.
        </p>
      ) : (
        <table className="table" data-testid="conformance-runs">
          <thead>
            <tr>
              <th>run (user agent)</th>
              <th>source name</th>
              <th className="num">tests</th>
              <th className="num">endpoints</th>
              <th>bodies recorded</th>
              <th>seen</th>
            </tr>
          </thead>
          <tbody>
            {fields.runs.map((run) => (
              <tr key={`${run.name} ${run.userAgent}`}>
                <td className="mono">{run.userAgent}</td>
                <td>{run.name ?? "—"}</td>
                <td className="num">{run.tests}</td>
                <td className="num">{run.endpoints}</td>
                <td>{run.requestFields ? "yes" : "no (audit log?)"}</td>
                <td className="small">
                  {run.firstSeen.toISOString().slice(0, 16).replace("T", " ")} –{" "}
                  {run.lastSeen.toISOString().slice(0, 16).replace("T", " ")} UTC
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <details>
        <summary>Per endpoint ({fields.endpoints.length}): least covered of those the runs hit first</summary>
        <table className="table" data-testid="field-coverage-endpoints">
          <thead>
            <tr>
              <th>endpoint</th>
              <th>request schema</th>
              <th className="num">fields sent</th>
              <th className="num">share</th>
              <th>hit by a run</th>
            </tr>
          </thead>
          <tbody>
            {fields.endpoints.map((endpoint) => (
              <tr key={endpoint.operationId} data-operation-id={endpoint.operationId}>
                <td>
                  <Link href={endpointHref(endpoint.operationId, query)}>{endpoint.operationId}</Link>
                </td>
                <td className="mono small">{endpoint.definition.split(".").at(-1)}</td>
                <td className="num">
                  {endpoint.sent} / {endpoint.schemaFields}
                </td>
                <td className="num">{percent(endpoint.sent, endpoint.schemaFields)}</td>
                <td>{endpoint.testedByRun ? "yes" : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
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
