import { FilterBar } from "../components/FilterBar";
import { FilterError } from "../components/FilterError";
import { NoRelease } from "../components/NoRelease";
import { OverviewLive } from "../components/OverviewLive";
import { UpstreamImportNotice } from "../components/UpstreamImportNotice";
import { filterQuery } from "../filters/dashboard-filters";
import { loadForPage } from "../http/page-data";
import { type PageProps, toSearchParams } from "../http/search-params";
import { dashboardData } from "../server/app-context";

export const dynamic = "force-dynamic";

/** `/`: coverage of the selection, the sunburst, the sources; live. */
export default async function OverviewPage({ searchParams }: PageProps) {
  const data = dashboardData();
  const params = toSearchParams(await searchParams);
  const parsed = data.parseFilters(params);
  if (!parsed.ok) return <FilterError error={parsed.error} path="/" />;
  const [releases, facets] = await Promise.all([data.releases(), data.sourceFacets()]);
  if (releases.length === 0) return <NoRelease />;
  const loaded = await loadForPage(() => data.coverage(parsed.filters));
  if (!loaded.ok) return <FilterError error={loaded.error} path="/" />;
  const report = loaded.value;
  return (
    <>
      <FilterBar releases={releases} facets={facets} />
      <UpstreamImportNotice states={data.upstreamImports()} />
      <OverviewLive report={report} query={filterQuery(params)} />
    </>
  );
}
