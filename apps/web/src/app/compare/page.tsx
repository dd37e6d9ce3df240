import { compareHref, parseCompareParams } from "../../compare/compare-params";
import { FilterBar } from "../../components/FilterBar";
import { FilterError } from "../../components/FilterError";
import { NoRelease } from "../../components/NoRelease";
import { CoverageDiffPanel, SpecDiffPanel } from "../../components/ReleaseComparison";
import { ReleasePicker } from "../../components/ReleasePicker";
import { filterQuery, SOURCE_FILTERS } from "../../filters/dashboard-filters";
import { loadForPage } from "../../http/page-data";
import { type PageProps, toSearchParams } from "../../http/search-params";
import { dashboardData } from "../../server/app-context";

export const dynamic = "force-dynamic";

/**
 * `/compare?from=1.33&to=1.34&<filters>`: the endpoints two releases add, remove, promote and deprecate,
 * and the selection's coverage in each. `from` and `to` name releases here; the other filters (sources,
 * outcome, level) are the dashboard's, so the page is one shareable link.
 */
export default async function ComparePage({ searchParams }: PageProps) {
  const data = dashboardData();
  const params = toSearchParams(await searchParams);
  const releases = await data.releases();
  if (releases.length === 0) return <NoRelease />;
  const compare = parseCompareParams(
    params,
    releases.map((release) => release.name),
  );
  if (!compare.ok) return <FilterError error={compare.error} path="/compare" />;
  const { from, to, filters } = compare.value;
  const parsed = data.parseFilters(filters);
  if (!parsed.ok) return <FilterError error={parsed.error} path="/compare" />;
  const [facets, loaded] = await Promise.all([
    data.sourceFacets(),
    loadForPage(() => data.compare(from, to, parsed.filters)),
  ]);
  if (!loaded.ok) return <FilterError error={loaded.error} path="/compare" />;
  const report = loaded.value;
  const query = filterQuery(filters);
  const chosen = SOURCE_FILTERS.flatMap((name) => {
    const value = parsed.filters[name];
    return value === undefined ? [] : [`${name}=${value}`];
  });
  const selection = [
    chosen.length > 0 ? chosen.join(", ") : "all sources",
    parsed.filters.outcome === "2xx" ? "2xx responses" : null,
    parsed.filters.level ? `${parsed.filters.level} endpoints` : null,
  ]
    .filter(Boolean)
    .join(" · ");
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
      <FilterBar releases={releases} facets={facets} pinned={["release", "from", "to"]} />
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
        <CoverageDiffPanel report={report} query={query} selection={selection} />
      </div>
    </>
  );
}
