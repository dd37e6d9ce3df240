import { FilterBar } from "../components/FilterBar";
import { FilterError } from "../components/FilterError";
import { NoRelease } from "../components/NoRelease";
import { OverviewLive } from "../components/OverviewLive";
import { filtersToQuery } from "../filters/dashboard-filters";
import { type PageProps, toSearchParams } from "../http/search-params";
import { dashboardData } from "../server/app-context";

export const dynamic = "force-dynamic";

/** `/`: coverage of the selection, the sunburst, the sources; live. */
export default async function OverviewPage({ searchParams }: PageProps) {
  const data = dashboardData();
  const parsed = data.parseFilters(toSearchParams(await searchParams));
  if (!parsed.ok) return <FilterError error={parsed.error} path="/" />;
  const [releases, facets] = await Promise.all([data.releases(), data.sourceFacets()]);
  if (releases.length === 0) return <NoRelease />;
  const report = await data.coverage(parsed.filters);
  return (
    <>
      <FilterBar filters={parsed.filters} releases={releases} facets={facets} />
      <OverviewLive report={report} query={filtersToQuery(parsed.filters).toString()} />
    </>
  );
}
