import { conformanceSourceSentence, fieldEvidenceSentence, noWorkloadSentence } from "@apisnoop/coverage";
import Link from "next/link";
import { FilterBar } from "../../components/FilterBar";
import { FilterError } from "../../components/FilterError";
import { NoRelease } from "../../components/NoRelease";
import {
  PriorityEndpointTable,
  PriorityFieldTable,
  WorkloadLinks,
  WorkloadTable,
} from "../../components/PriorityTables";
import { filterQuery } from "../../filters/dashboard-filters";
import { loadForPage } from "../../http/page-data";
import { type PageProps, toSearchParams } from "../../http/search-params";
import { dashboardData } from "../../server/app-context";

export const dynamic = "force-dynamic";

/** Rows of each list the page shows; the exports carry up to the API's own limit. */
const SHOWN = 200;

/**
 * `/priorities`: what real workloads use that the conformance suite does not test yet — endpoints, body
 * fields and alpha/beta endpoints, ranked by how many workloads depend on them — for choosing the next
 * conformance tests to write. Same filters as every view; exports as CSV, Markdown and JSON.
 */
export default async function PrioritiesPage({ searchParams }: PageProps) {
  const data = dashboardData();
  const params = toSearchParams(await searchParams);
  const parsed = data.parseFilters(params);
  if (!parsed.ok) return <FilterError error={parsed.error} path="/priorities" />;
  const [releases, facets] = await Promise.all([data.releases(), data.sourceFacets()]);
  if (releases.length === 0) return <NoRelease />;
  const loaded = await loadForPage(() => data.priorities(parsed.filters, SHOWN));
  if (!loaded.ok) return <FilterError error={loaded.error} path="/priorities" />;
  const report = loaded.value;
  const query = filterQuery(params);
  const exportQuery = query ? `?${query}` : "";
  const eligible = report.endpoints.filter((row) => row.conformanceEligible);
  // Alpha and beta endpoints are in the promotion watch; the rest that is not eligible is listed apart.
  const ineligible = report.endpoints.filter((row) => !row.conformanceEligible && row.level === "stable");
  const { totals } = report;
  const links = new WorkloadLinks(report.workloads, params);
  const fieldEvidence = fieldEvidenceSentence(report);
  const releaseQuery = `release=${encodeURIComponent(report.release)}`;
  if (totals.workloads === 0) {
    // Nothing to rank: say why and how to get workloads, rather than five empty lists.
    const narrowed = [...new URLSearchParams(query).keys()].some((name) => name !== "release");
    return (
      <>
        <FilterBar releases={releases} facets={facets} />
        <div className="page-title">
          <h1 data-testid="priorities-title">Tests to write next: release {report.release}</h1>
          <p data-testid="priorities-empty">
            {narrowed ? (
              <>
                No workload in this selection.{" "}
                <Link href={`/priorities?${releaseQuery}`}>Every workload of release {report.release}</Link>.
              </>
            ) : (
              <>
                {withCode(noWorkloadSentence(report.release))} Meanwhile,{" "}
                <Link href={`/conformance?${releaseQuery}`}>Conformance</Link> lists the conformance-eligible
                endpoints no conformance test hits, unranked.
              </>
            )}
          </p>
          <p className="muted small" data-testid="conformance-sources">
            {conformanceSourceSentence(report)}
          </p>
        </div>
      </>
    );
  }
  return (
    <>
      <FilterBar releases={releases} facets={facets} />
      <div className="page-title">
        <h1 data-testid="priorities-title">Tests to write next: release {report.release}</h1>
        <p>
          What {totals.workloads.toLocaleString("en")} workloads of this selection use that no conformance
          test exercises yet, ranked by how many workloads depend on it, then by calls. A workload is a Helm
          chart when known, else a namespace and service account, else a user agent.{" "}
          <span data-testid="conformance-sources">{conformanceSourceSentence(report)}</span>
        </p>
        <p className="export-links">
          Export: <a href={`/api/v1/priorities.csv${exportQuery}`}>CSV</a> ·{" "}
          <a href={`/api/v1/priorities.md${exportQuery}`}>Markdown</a> ·{" "}
          <a href={`/api/v1/priorities${exportQuery}`}>JSON</a> · or{" "}
          <code>apisnoop priorities --release {report.release} --format markdown</code>
        </p>
      </div>
      <div className="priorities">
        <dl className="figures panel" data-testid="priorities-figures">
          {(
            [
              ["workloads", "workloads", totals.workloads],
              ["eligible", "eligible endpoints untested", totals.eligibleEndpoints],
              ["endpoints", "endpoints untested, all levels", totals.endpoints],
              ["fields", "field gaps", totals.fields],
              ["watch", "alpha and beta endpoints used", totals.promotionWatch],
            ] as const
          ).map(([id, label, value]) => (
            <div className="figure" key={id}>
              <dt>{label}</dt>
              <dd data-testid={`priorities-${id}`}>{value.toLocaleString("en")}</dd>
            </div>
          ))}
        </dl>

        <section className="panel">
          <h2>Conformance-eligible endpoints no conformance test hits</h2>
          <p className="muted small">
            Stable, not deprecated, not listed ineligible: each row is a conformance test to write. “e2e”
            marks endpoints another e2e test already hits, a test that might be promoted.
            {shownNote(eligible.length, totals.eligibleEndpoints)}
          </p>
          <PriorityEndpointTable rows={eligible} query={query} links={links} testId="priority-endpoints" />
        </section>

        <section className="panel">
          <h2>Body fields no conformance test carried</h2>
          <p className="muted small">
            Request and response fields workloads send or read on an endpoint that no conformance test&apos;s
            bodies carried on that endpoint. Fields come from runs through the proxy only: apisnoop&apos;s
            published data has no fields, so on an endpoint tested only there (“no bodies recorded”) a gap may
            be none. With a time window, the fields are those the workloads active in it use on the endpoints
            they called in it.
            {shownNote(report.fields.length, totals.fields)}
          </p>
          {fieldEvidence && (
            <p className="notice" data-testid="no-conformance-bodies">
              {withCode(fieldEvidence)}
            </p>
          )}
          <PriorityFieldTable rows={report.fields} query={query} links={links} testId="priority-fields" />
        </section>

        <section className="panel">
          <h2>Promotion watch: alpha and beta endpoints workloads depend on</h2>
          <p className="muted small">
            The tests a promotion to stable will need, and the risk these workloads carry meanwhile.
            {shownNote(report.promotionWatch.length, totals.promotionWatch)}
          </p>
          <PriorityEndpointTable
            rows={report.promotionWatch}
            query={query}
            links={links}
            testId="promotion-watch"
          />
        </section>

        <div className="detail-grid">
          <section className="panel">
            <h2>Workloads</h2>
            <p className="muted small">Most untested eligible endpoints first.</p>
            <WorkloadTable workloads={report.workloads} links={links} />
          </section>
          <section className="panel">
            <h2>Ineligible stable endpoints no conformance test hits</h2>
            <p className="muted small">
              Deprecated, or listed in <code>ineligible_endpoints.json</code> (
              <Link href={`/conformance?${releaseQuery}`}>why</Link>); alpha and beta ones are in the
              promotion watch.
            </p>
            <PriorityEndpointTable
              rows={ineligible}
              query={query}
              links={links}
              testId="priority-ineligible"
            />
          </section>
        </div>
        <p className="muted small">
          Conformance coverage counts every conformance test recorded for release {report.release}, whatever
          the time window; the filters select the workloads.
        </p>
      </div>
    </>
  );
}

function shownNote(shown: number, total: number): string {
  return shown < total
    ? ` Showing the first ${shown} of ${total.toLocaleString("en")}: the exports have more.`
    : "";
}

/** Text whose `backticked` parts are commands, as the CLI prints it, with those parts as code. */
function withCode(text: string) {
  return text.split("`").map((part, i) => (i % 2 === 1 ? <code key={part}>{part}</code> : part));
}
