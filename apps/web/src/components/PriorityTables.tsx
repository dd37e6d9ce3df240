import { fieldEndpointStatus } from "@apisnoop/coverage";
import type { PriorityEndpoint, PriorityField, PriorityWorkload } from "@apisnoop/db";
import { SOURCE_FILTERS } from "@apisnoop/db/filters";
import Link from "next/link";
import { filterQuery } from "../filters/dashboard-filters";
import { endpointHref } from "../filters/nav-query";
import { LevelBadge } from "./LevelBadge";

/** Workload names listed in a row; the rest are counted. */
const NAMES_SHOWN = 5;

/**
 * Where each workload of a priorities view links: a chart's page, or the overview narrowed to its
 * sources, keeping the view's release, window, outcome and level.
 */
export class WorkloadLinks {
  private readonly hrefs = new Map<string, string>();

  constructor(workloads: readonly PriorityWorkload[], view: URLSearchParams) {
    const kept = new URLSearchParams(filterQuery(view));
    for (const name of SOURCE_FILTERS) kept.delete(name);
    for (const workload of workloads) {
      if (!workload.filters) continue;
      const query = new URLSearchParams(kept);
      const chart = workload.filters.chart;
      if (chart !== undefined && Object.keys(workload.filters).length === 1) {
        this.hrefs.set(workload.name, `/charts/${encodeURIComponent(chart)}${kept.size ? `?${kept}` : ""}`);
        continue;
      }
      for (const [name, value] of Object.entries(workload.filters)) query.set(name, value);
      this.hrefs.set(workload.name, `/?${query}`);
    }
  }

  /** The link of a workload, or null when no filter selects it. */
  href(name: string): string | null {
    return this.hrefs.get(name) ?? null;
  }
}

/** A row's workloads, most calls first, each linked; the rest counted. */
function Workloads({ names, links }: { names: readonly string[]; links: WorkloadLinks }) {
  const shown = names.slice(0, NAMES_SHOWN);
  return (
    <span className="workloads">
      {shown.map((name, i) => {
        const href = links.href(name);
        return (
          <span key={name}>
            {i > 0 && ", "}
            {href ? <Link href={href}>{name}</Link> : name}
          </span>
        );
      })}
      {names.length > NAMES_SHOWN && (
        <span className="muted" title={names.slice(NAMES_SHOWN).join(", ")}>
          {" "}
          +{names.length - NAMES_SHOWN} more
        </span>
      )}
    </span>
  );
}

/** Ranked endpoints: rank, the endpoint (to its page), level, workloads, calls, another e2e test. */
export function PriorityEndpointTable({
  rows,
  query,
  links,
  testId,
}: {
  rows: readonly PriorityEndpoint[];
  query: string;
  links: WorkloadLinks;
  testId: string;
}) {
  if (rows.length === 0) return <p className="empty">None.</p>;
  return (
    <table className="table" data-testid={testId}>
      <thead>
        <tr>
          <th className="num">#</th>
          <th>endpoint</th>
          <th>level</th>
          <th className="num">workloads</th>
          <th className="num">calls</th>
          <th title="another e2e test hits it">e2e</th>
          <th>used by</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) => (
          <tr key={row.operationId} data-operation-id={row.operationId}>
            <td className="num">{i + 1}</td>
            <td>
              <Link href={endpointHref(row.operationId, query)}>{row.operationId}</Link>
              <div className="mono muted small">
                {row.method} {row.path}
              </div>
            </td>
            <td>
              <LevelBadge level={row.level} deprecated={row.deprecated} />
            </td>
            <td className="num" data-column="workloads">
              {row.workloads}
            </td>
            <td className="num">{row.hits.toLocaleString("en")}</td>
            <td>{row.e2eTested ? "e2e" : ""}</td>
            <td>
              <Workloads names={row.workloadNames} links={links} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Ranked field gaps: rank, field, the endpoint (to its page), direction, workloads, uses, status. */
export function PriorityFieldTable({
  rows,
  query,
  links,
  testId,
}: {
  rows: readonly PriorityField[];
  query: string;
  links: WorkloadLinks;
  testId: string;
}) {
  if (rows.length === 0) return <p className="empty">None.</p>;
  return (
    <table className="table" data-testid={testId}>
      <thead>
        <tr>
          <th className="num">#</th>
          <th>field</th>
          <th>endpoint</th>
          <th>in</th>
          <th className="num">workloads</th>
          <th className="num">uses</th>
          <th title="a conformance test hits the endpoint">endpoint tested</th>
          <th>used by</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) => (
          <tr
            key={`${row.operationId} ${row.direction} ${row.field}`}
            data-operation-id={row.operationId}
            data-field={row.field}
          >
            <td className="num">{i + 1}</td>
            <td className="mono">{row.field}</td>
            <td>
              <Link href={endpointHref(row.operationId, query)}>{row.operationId}</Link>
            </td>
            <td className="nowrap">{row.direction}</td>
            <td className="num" data-column="workloads">
              {row.workloads}
            </td>
            <td className="num">{row.hits.toLocaleString("en")}</td>
            <td>{fieldEndpointStatus(row)}</td>
            <td>
              <Workloads names={row.workloadNames} links={links} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The selection's workloads and how much of what they call is untested. */
export function WorkloadTable({
  workloads,
  links,
}: {
  workloads: readonly PriorityWorkload[];
  links: WorkloadLinks;
}) {
  if (workloads.length === 0) return <p className="empty">No workload in this selection.</p>;
  return (
    <table className="table" data-testid="priority-workloads">
      <thead>
        <tr>
          <th>workload</th>
          <th className="num" title="conformance-eligible endpoints it calls that no conformance test hits">
            untested eligible
          </th>
          <th className="num">untested</th>
          <th className="num">endpoints called</th>
        </tr>
      </thead>
      <tbody>
        {workloads.map((workload) => {
          const href = links.href(workload.name);
          return (
            <tr key={workload.name} data-workload={workload.name}>
              <td>{href ? <Link href={href}>{workload.name}</Link> : workload.name}</td>
              <td className="num">{workload.untestedEligible}</td>
              <td className="num">{workload.untestedEndpoints}</td>
              <td className="num">{workload.endpoints}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
