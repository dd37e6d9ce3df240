import { LEVELS } from "@apisnoop/openapi/level";
import { notFound } from "next/navigation";
import { EndpointTable } from "../../../components/EndpointTable";
import { FilterBar } from "../../../components/FilterBar";
import { FilterError } from "../../../components/FilterError";
import { OutsideSpecTable, UnknownCallsTable, UnknownFieldsTable } from "../../../components/UnknownTables";
import { filterQuery } from "../../../filters/dashboard-filters";
import { loadForPage } from "../../../http/page-data";
import { type PageProps, toSearchParams } from "../../../http/search-params";
import { dashboardData } from "../../../server/app-context";

export const dynamic = "force-dynamic";

/** `/charts/[name]`: the endpoints a Helm chart's pods used, by level, and what else they did. */
export default async function ChartPage({ params, searchParams }: PageProps<{ name: string }>) {
  const { name } = await params;
  const chart = decodeURIComponent(name);
  const data = dashboardData();
  const query = toSearchParams(await searchParams);
  const parsed = data.parseFilters(query);
  if (!parsed.ok) return <FilterError error={parsed.error} path={`/charts/${name}`} />;
  const [releases, facets, loaded] = await Promise.all([
    data.releases(),
    data.sourceFacets(),
    loadForPage(() => data.chart(chart, parsed.filters)),
  ]);
  if (!loaded.ok) return <FilterError error={loaded.error} path={`/charts/${name}`} />;
  const report = loaded.value;
  if (!report) notFound();
  const withChart = new URLSearchParams(query);
  withChart.set("chart", chart);
  const chartQuery = filterQuery(withChart);
  return (
    <>
      <FilterBar releases={releases} facets={facets} />
      <div className="page-title">
        <h1>
          Chart <span data-testid="chart-name">{report.chart}</span>
        </h1>
        <p>
          {report.endpoints.length} endpoints of release {report.release} used by the chart's pods:{" "}
          {LEVELS.map((level) => `${report.byLevel[level].hit} ${level}`).join(", ")}.{" "}
          <a href={`/?${chartQuery}`}>Show on the sunburst</a>;{" "}
          <a href={`/report?${chartQuery}`} data-testid="chart-readiness-link">
            its upgrade readiness
          </a>
        </p>
      </div>
      <div className="detail-grid">
        <section className="panel">
          <h2>Endpoints used</h2>
          <EndpointTable endpoints={report.endpoints} query={chartQuery} testId="chart-endpoints" />
        </section>
        <section className="panel">
          <h2>Deprecated endpoints used</h2>
          <EndpointTable endpoints={report.deprecated} query={chartQuery} />
          <h2 style={{ marginTop: "1rem" }}>Pods</h2>
          {report.pods.length === 0 ? (
            <p className="empty">No pod identified.</p>
          ) : (
            <table className="table" data-testid="chart-pods">
              <thead>
                <tr>
                  <th>namespace / pod</th>
                  <th className="num">endpoints</th>
                  <th className="num">hits</th>
                </tr>
              </thead>
              <tbody>
                {report.pods.map((pod) => (
                  <tr key={`${pod.namespace}/${pod.pod}`}>
                    <td>
                      {pod.namespace ?? "—"} / {pod.pod ?? "—"}
                    </td>
                    <td className="num">{pod.endpoints}</td>
                    <td className="num">{pod.hits.toLocaleString("en")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h2 style={{ marginTop: "1rem" }}>Field coverage per kind</h2>
          {report.fieldsByKind.length === 0 ? (
            <p className="empty">No body fields recorded.</p>
          ) : (
            <table className="table">
              <thead>
                <tr>
                  <th>kind</th>
                  <th className="num">fields used</th>
                  <th className="num">unknown</th>
                </tr>
              </thead>
              <tbody>
                {report.fieldsByKind.map((row) => (
                  <tr key={row.kind}>
                    <td>{row.kind}</td>
                    <td className="num">{row.fields}</td>
                    <td className="num">{row.unknown}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section className="panel">
          <h2>Unknown calls</h2>
          <UnknownCallsTable calls={report.unknownCalls} />
          {report.outsideSpecCalls.length > 0 && (
            <>
              <h2 style={{ marginTop: "1rem" }}>Apiserver paths outside the spec</h2>
              <OutsideSpecTable calls={report.outsideSpecCalls} />
            </>
          )}
        </section>
        <section className="panel">
          <h2>Unknown fields</h2>
          <UnknownFieldsTable fields={report.unknownFields} />
        </section>
      </div>
    </>
  );
}
