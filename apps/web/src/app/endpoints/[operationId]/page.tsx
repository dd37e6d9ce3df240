import { chartName } from "@apisnoop/db/filters";
import Link from "next/link";
import { notFound } from "next/navigation";
import { FieldTree } from "../../../components/FieldTree";
import { FilterBar } from "../../../components/FilterBar";
import { FilterError } from "../../../components/FilterError";
import { LevelBadge } from "../../../components/LevelBadge";
import { ShortList } from "../../../components/ShortList";
import { filterQuery } from "../../../filters/dashboard-filters";
import { loadForPage } from "../../../http/page-data";
import { type PageProps, toSearchParams } from "../../../http/search-params";
import { dashboardData } from "../../../server/app-context";

export const dynamic = "force-dynamic";

/** `/endpoints/[operationId]`: what an endpoint is, who hit it, with which outcome and which fields. */
export default async function EndpointPage({ params, searchParams }: PageProps<{ operationId: string }>) {
  const { operationId } = await params;
  const id = decodeURIComponent(operationId);
  const data = dashboardData();
  const query = toSearchParams(await searchParams);
  const parsed = data.parseFilters(query);
  if (!parsed.ok) return <FilterError error={parsed.error} path={`/endpoints/${operationId}`} />;
  const [releases, facets, loaded] = await Promise.all([
    data.releases(),
    data.sourceFacets(),
    loadForPage(() => data.endpoint(id, parsed.filters)),
  ]);
  if (!loaded.ok) return <FilterError error={loaded.error} path={`/endpoints/${operationId}`} />;
  const detail = loaded.value;
  if (!detail) notFound();
  const { endpoint } = detail;
  const linkQuery = filterQuery(query);
  const gvk = [endpoint.group || "core", endpoint.version, endpoint.kind].filter(Boolean).join("/");
  return (
    <>
      <FilterBar releases={releases} facets={facets} />
      <div className="page-title">
        <h1 data-testid="endpoint-title">{endpoint.operationId}</h1>
        <p className="mono">
          {endpoint.method} {endpoint.path}
        </p>
      </div>
      <div className="detail-grid">
        <section className="panel">
          <h2>Endpoint</h2>
          <dl className="facts">
            <dt>release</dt>
            <dd>{detail.release}</dd>
            <dt>level</dt>
            <dd>
              <LevelBadge level={endpoint.level} deprecated={endpoint.deprecated} />
            </dd>
            <dt>category</dt>
            <dd>{endpoint.category}</dd>
            <dt>group/version/kind</dt>
            <dd className="mono">{gvk || "—"}</dd>
            <dt>action</dt>
            <dd>{endpoint.action ?? "—"}</dd>
            <dt>conformance</dt>
            <dd>
              {endpoint.conformanceEligible
                ? "eligible"
                : `not eligible${endpoint.ineligibleReason ? ` (${endpoint.ineligibleReason})` : ""}`}
            </dd>
            <dt>upstream e2e</dt>
            <dd>
              {endpoint.upstreamTested === null
                ? "no data imported"
                : endpoint.upstreamTested
                  ? `tested (${detail.upstreamTests.length} tests)`
                  : "not tested"}
            </dd>
            <dt>description</dt>
            <dd>{endpoint.description ?? "—"}</dd>
          </dl>
        </section>
        <section className="panel">
          <h2>Hits</h2>
          <dl className="facts">
            <dt>hits</dt>
            <dd data-testid="endpoint-hits">{detail.hits.toLocaleString("en")}</dd>
            <dt>first seen</dt>
            <dd>{detail.firstSeen ?? "never"}</dd>
            <dt>last seen</dt>
            <dd>{detail.lastSeen ?? "never"}</dd>
            <dt>status codes</dt>
            <dd>
              {detail.statusClasses.length === 0
                ? "—"
                : detail.statusClasses
                    .map((s) => `${s.statusClass}: ${s.hits.toLocaleString("en")}`)
                    .join(" · ")}
            </dd>
            <dt>how it was called</dt>
            <dd data-testid="endpoint-details">
              {detail.details.length === 0
                ? "—"
                : detail.details.map((d) => `${d.detail}: ${d.hits.toLocaleString("en")}`).join(" · ")}
            </dd>
          </dl>
          <h3 style={{ marginTop: "1rem" }}>Sources</h3>
          {detail.sources.length === 0 ? (
            <p className="empty">Nobody in this selection called it.</p>
          ) : (
            <table className="table">
              <thead>
                <tr>
                  <th>source</th>
                  <th>chart</th>
                  <th className="num">hits</th>
                </tr>
              </thead>
              <tbody>
                {detail.sources.map((row) => (
                  <tr key={row.key}>
                    <td>
                      {row.label}
                      {row.tests !== undefined && (
                        <span className="muted small"> · {row.tests.toLocaleString("en")} tests</span>
                      )}
                    </td>
                    <td>
                      {row.source.chart ? (
                        <Link
                          href={`/charts/${encodeURIComponent(chartName(row.source.chart))}?${linkQuery}`}
                        >
                          {row.source.chart}
                        </Link>
                      ) : (
                        "—"
                      )}
                    </td>
                    <td className="num">{row.hits.toLocaleString("en")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section className="panel">
          <h2>
            e2e tests <span className="muted">{detail.e2eTests.length}</span>
          </h2>
          {detail.e2eTests.length === 0 ? (
            <p className="empty">No e2e run in this selection called it.</p>
          ) : (
            <ShortList
              noun="tests"
              testId="e2e-tests"
              items={detail.e2eTests.map((test) => ({
                key: test.test,
                content: (
                  <>
                    {test.test} {test.conformance && <span className="badge badge-stable">conformance</span>}{" "}
                    · {test.hits.toLocaleString("en")}
                  </>
                ),
              }))}
            />
          )}
          {detail.upstreamTests.length > 0 && (
            <>
              <h3>
                Upstream e2e tests (apisnoop) <span className="muted">{detail.upstreamTests.length}</span>
              </h3>
              <ShortList
                noun="tests"
                testId="upstream-tests"
                items={detail.upstreamTests.map((test) => ({ key: test, content: test }))}
              />
            </>
          )}
        </section>
        <section className="panel">
          <h2>Fields</h2>
          <FieldTree fields={detail.fields} />
        </section>
      </div>
    </>
  );
}
