import { FilterBar } from "../../components/FilterBar";
import { FilterError } from "../../components/FilterError";
import { OutsideSpecTable, UnknownCallsTable, UnknownFieldsTable } from "../../components/UnknownTables";
import { loadForPage } from "../../http/page-data";
import { type PageProps, toSearchParams } from "../../http/search-params";
import { dashboardData } from "../../server/app-context";

export const dynamic = "force-dynamic";

/** `/unknown`: calls that matched no endpoint and fields absent from the schema, with their sources. */
export default async function UnknownPage({ searchParams }: PageProps) {
  const data = dashboardData();
  const params = toSearchParams(await searchParams);
  const parsed = data.parseFilters(params);
  if (!parsed.ok) return <FilterError error={parsed.error} path="/unknown" />;
  const [releases, facets, loaded] = await Promise.all([
    data.releases(),
    data.sourceFacets(),
    loadForPage(() => data.unknown(parsed.filters)),
  ]);
  if (!loaded.ok) return <FilterError error={loaded.error} path={"/unknown"} />;
  const report = loaded.value;
  return (
    <>
      <FilterBar releases={releases} facets={facets} />
      <div className="page-title">
        <h1>Unknown calls and fields</h1>
        <p>
          Requests that matched no endpoint of the release (a CRD, an aggregated API, a typo, a removed
          version), and body fields the schema does not have. Calls to the paths every kube-apiserver serves
          outside its OpenAPI spec are listed apart and are not counted as unknown.
        </p>
      </div>
      <div className="detail-grid">
        <section className="panel">
          <h2>Unknown calls</h2>
          <UnknownCallsTable calls={report.calls} />
        </section>
        <section className="panel">
          <h2>Unknown fields</h2>
          <UnknownFieldsTable fields={report.fields} />
        </section>
        <section className="panel">
          <h2>Apiserver paths outside the spec</h2>
          <p className="muted small">
            Served by every kube-apiserver, described by no OpenAPI spec: the OpenAPI documents kubectl reads
            on every apply (<code>/openapi/v3/…</code>), health checks (<code>/healthz</code>,{" "}
            <code>/livez</code>, <code>/readyz</code> and their checks), <code>/metrics</code>,{" "}
            <code>/debug/…</code>.
          </p>
          <OutsideSpecTable calls={report.outsideSpec} />
        </section>
      </div>
    </>
  );
}
