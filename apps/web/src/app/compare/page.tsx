import { compareHref, parseCompareParams } from "../../compare/compare-params";
import { FilterBar } from "../../components/FilterBar";
import { FilterError } from "../../components/FilterError";
import { NoRelease } from "../../components/NoRelease";
import { CoverageDiffPanel, SpecDiffPanel } from "../../components/ReleaseComparison";
import { ReleasePicker } from "../../components/ReleasePicker";
import type { DashboardFilters } from "../../data/dashboard-data";
import { filterQuery, SOURCE_FILTERS } from "../../filters/dashboard-filters";
import { loadForPage } from "../../http/page-data";
import { type PageProps, toSearchParams } from "../../http/search-params";
import { dashboardData } from "../../server/app-context";

export const dynamic = "force-dynamic";

/** The selection in words: its sources, outcome and level; without `omit`, which the sides name. */
function describeSelection(filters: DashboardFilters, omit: readonly string[] = []): string {
  const chosen = SOURCE_FILTERS.flatMap((name) => {
    if (omit.includes(name)) return [];
    const value = filters[name];
    return value === undefined ? [] : [`${name}=${value}`];
  });
  return [
    chosen.length > 0 ? chosen.join(", ") : "all sources",
    filters.outcome === "2xx" ? "2xx responses" : null,
    filters.level ? `${filters.level} endpoints` : null,
  ]
    .filter(Boolean)
    .join(" · ");
}

/** Shown at `/compare` while one release is loaded: how to load another. */
function NothingToCompare({ release }: { release: string }) {
  return (
    <section className="notice" role="status" data-testid="nothing-to-compare">
      <h2>Only {release} is loaded</h2>
      <p>
        There is no other release to compare it with yet. Load one and reload this page:{" "}
        <code>npx apisnoop spec add --release 1.NN</code>, or start with{" "}
        <code>APISNOOP_RELEASES=1.35,1.36 npm start</code> (the default loads the latest two published
        releases besides the cluster&apos;s).
      </p>
    </section>
  );
}

/** `release=R&<query>`: links from a compared release to endpoint pages. */
const withRelease = (release: string, query: string) =>
  `release=${encodeURIComponent(release)}${query ? `&${query}` : ""}`;

/**
 * `/compare?from=1.33&to=1.34&<filters>`: the endpoints two releases add, remove, promote and deprecate,
 * and the selection's coverage in each. `from` and `to` name releases here; the other filters (sources,
 * outcome, level) are the dashboard's, so the page is one shareable link. Without `from` and `to`, the
 * release (or the default one) and its neighbour in upgrade direction. With two time windows
 * (`from=7d..1d&to=1d..now&release=1.34`) it compares the selection's coverage between them; with two
 * selections (`from=run:A&to=run:B`: a main branch's CI run and a pull request's) their coverage, each
 * changed endpoint with the tests or sources that hit it.
 */
export default async function ComparePage({ searchParams }: PageProps) {
  const data = dashboardData();
  const params = toSearchParams(await searchParams);
  const releases = await data.releases();
  if (releases.length === 0) return <NoRelease />;
  const [only] = releases;
  if (only && releases.length === 1 && !params.get("from") && !params.get("to")) {
    return <NothingToCompare release={only.name} />;
  }
  const compare = parseCompareParams(
    params,
    releases.map((release) => release.name),
  );
  if (!compare.ok) return <FilterError error={compare.error} path="/compare" />;
  const facets = data.sourceFacets();
  const value = compare.value;

  if (value.kind === "windows" || value.kind === "selections") {
    const selections = value.kind === "selections";
    const earlier = data.parseFilters(value.from.filters);
    if (!earlier.ok) return <FilterError error={earlier.error} path="/compare" />;
    const later = data.parseFilters(value.to.filters);
    if (!later.ok) return <FilterError error={later.error} path="/compare" />;
    const loaded = await loadForPage(() =>
      data.compareSelections(
        earlier.filters,
        later.filters,
        selections ? { callers: true, labels: [value.from.text, value.to.text] } : {},
      ),
    );
    if (!loaded.ok) return <FilterError error={loaded.error} path="/compare" />;
    const report = loaded.value;
    return (
      <>
        <FilterBar releases={releases} facets={await facets} pinned={["from", "to"]} />
        <div className="page-title">
          <h1 data-testid="compare-title">
            {report.release}: {value.from.text} → {value.to.text}
          </h1>
          {selections ? (
            <p>
              What {value.to.text} hits that {value.from.text} does not, and the reverse, in {report.release}:
              each endpoint with its level, whether it is conformance-eligible and the tests or sources that
              hit it.{" "}
              <code>
                apisnoop report --source {value.to.text.replace(":", "=")} --baseline{" "}
                {value.from.text.replace(":", "=")}
              </code>{" "}
              fails a CI job when the later covers fewer conformance-eligible endpoints.
            </p>
          ) : (
            <p>
              How the coverage of the selection changed between two time windows of {report.release} (
              {report.coverage.from} and {report.coverage.to}).
            </p>
          )}
        </div>
        <div className="compare">
          <CoverageDiffPanel
            coverage={report.coverage}
            from={value.from.text}
            to={value.to.text}
            fromQuery={filterQuery(value.from.filters)}
            toQuery={filterQuery(value.to.filters)}
            selection={describeSelection(
              later.filters,
              selections ? [value.from.text, value.to.text].map((text) => text.split(":")[0] ?? "") : [],
            )}
            releases={false}
            callers={selections}
          />
        </div>
      </>
    );
  }

  const { from, to, filters } = value;
  const parsed = data.parseFilters(filters);
  if (!parsed.ok) return <FilterError error={parsed.error} path="/compare" />;
  const loaded = await loadForPage(() => data.compare(from, to, parsed.filters));
  if (!loaded.ok) return <FilterError error={loaded.error} path="/compare" />;
  const report = loaded.value;
  const query = filterQuery(filters);
  return (
    <>
      <ReleasePicker
        action="/compare"
        releases={releases}
        fields={[
          { name: "from", label: "from release", value: from },
          { name: "to", label: "to release", value: to },
        ]}
        carry={new URLSearchParams(query)}
      />
      <FilterBar releases={releases} facets={await facets} pinned={["release", "from", "to"]} />
      <div className="page-title">
        <h1 data-testid="compare-title">
          {report.from} → {report.to}
        </h1>
        <p>
          What the later release adds, removes, promotes (the same operation of a kind at a higher level, e.g.
          v1beta1 → v1) and newly deprecates, and how the coverage of the selection changed: all-time hits of
          each release. <a href={compareHref(to, from, query)}>Swap the releases</a>.
        </p>
      </div>
      <div className="compare">
        <SpecDiffPanel report={report} query={query} />
        <CoverageDiffPanel
          coverage={report.coverage}
          from={report.from}
          to={report.to}
          fromQuery={withRelease(report.from, query)}
          toQuery={withRelease(report.to, query)}
          selection={describeSelection(parsed.filters)}
          releases
        />
      </div>
    </>
  );
}
