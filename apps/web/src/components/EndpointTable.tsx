import Link from "next/link";
import type { EndpointCoverage } from "../data/dashboard-data";
import { endpointHref } from "../filters/nav-query";
import { LevelBadge } from "./LevelBadge";

/** Endpoints with their hits, linking to each endpoint's page with the view's filters. */
export function EndpointTable({
  endpoints,
  query,
  testId,
}: {
  endpoints: readonly EndpointCoverage[];
  query: string;
  testId?: string;
}) {
  if (endpoints.length === 0) return <p className="empty">None.</p>;
  return (
    <table className="table" data-testid={testId}>
      <thead>
        <tr>
          <th>endpoint</th>
          <th>level</th>
          <th>method and path</th>
          <th className="num">hits</th>
        </tr>
      </thead>
      <tbody>
        {endpoints.map((endpoint) => (
          <tr key={endpoint.operationId} data-operation-id={endpoint.operationId}>
            <td>
              <Link href={endpointHref(endpoint.operationId, query)}>{endpoint.operationId}</Link>
            </td>
            <td>
              <LevelBadge level={endpoint.level} deprecated={endpoint.deprecated} />
            </td>
            <td className="mono">
              {endpoint.method} {endpoint.path}
            </td>
            <td className="num">{endpoint.hits.toLocaleString("en")}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
