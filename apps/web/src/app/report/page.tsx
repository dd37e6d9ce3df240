import type { Finding } from "@apisnoop/coverage";
import { isWellFormedReleaseName } from "@apisnoop/openapi/release-name";
import Link from "next/link";
import { FilterBar } from "../../components/FilterBar";
import { FilterError } from "../../components/FilterError";
import { LevelBadge } from "../../components/LevelBadge";
import { NoRelease } from "../../components/NoRelease";
import { ReleasePicker } from "../../components/ReleasePicker";
import type { DashboardFilters, ReadinessReport } from "../../data/dashboard-data";
import { filterQuery, SOURCE_FILTERS } from "../../filters/dashboard-filters";
import { endpointHref } from "../../filters/nav-query";
import { loadForPage } from "../../http/page-data";
import { type PageProps, toSearchParams } from "../../http/search-params";
import { dashboardData } from "../../server/app-context";
import { sourceLabel } from "../../sources/source-label";

export const dynamic = "force-dynamic";

/** What each exit code of `apisnoop report` means, for the verdict. */
const VERDICTS: Record<number, string> = {
  0: "ready: nothing this selection calls is deprecated or removed",
  2: "deprecated endpoints are called",
  3: "endpoints the target release no longer serves are called",
  4: "conformance-eligible coverage is below the minimum",
};

/**
 * `/report?target=1.NN&<filters>`: upgrade readiness, what `apisnoop report` says, for people who would
 * rather look than read — the endpoints the selection calls that are deprecated, or that the target
 * release no longer serves, with the replacement, the callers, hits and when they were last called, and
 * the exit code a CI gate would get. Without `target`, the next newer loaded release.
 */
export default async function ReportPage({ searchParams }: PageProps) {
  const data = dashboardData();
  const params = toSearchParams(await searchParams);
  const parsed = data.parseFilters(params);
  if (!parsed.ok) return <FilterError error={parsed.error} path="/report" />;
  const targets = params.getAll("target").filter((value) => value.trim() !== "");
  if (targets.length > 1) return <FilterError error="invalid parameter target: given twice" path="/report" />;
  const target = targets[0]?.trim();
  if (target !== undefined && !isWellFormedReleaseName(target)) {
    return <FilterError error={'invalid parameter target: a release is a name like "1.36"'} path="/report" />;
  }
  const [releases, facets] = await Promise.all([data.releases(), data.sourceFacets()]);
  if (releases.length === 0) return <NoRelease />;
  const loaded = await loadForPage(() => data.readiness(parsed.filters, target));
  if (!loaded.ok) return <FilterError error={loaded.error} path="/report" />;
  const readiness = loaded.value;
  const { report } = readiness;
  const query = filterQuery(params);
  const endpointQuery = new URLSearchParams(query);
  endpointQuery.set("release", readiness.release);
  return (
    <>
      <FilterBar releases={releases} facets={facets} carry={["target"]} />
      <ReleasePicker
        action="/report"
        releases={releases}
        fields={[{ name: "target", label: "upgrading to", value: readiness.target ?? "" }]}
        carry={new URLSearchParams(query)}
      />
      <div className="page-title">
        <h1 data-testid="report-title">
          Upgrade readiness: {readiness.release}
          {readiness.target ? ` → ${readiness.target}` : ""}
        </h1>
        <p>
          What the selection ({describeSelection(parsed.filters)}) really called that is deprecated in{" "}
          {readiness.release}
          {readiness.target ? `, or that ${readiness.target} no longer serves` : ""}: from the traffic
          recorded, not from manifests, as pluto and kubent detect at run time.{" "}
          {readiness.target === null &&
            "No newer release is loaded to check removals against: choose one above, or load it with npx apisnoop spec add --release 1.NN. "}
          <Link href={`/${query ? `?${query}` : ""}`}>Back to the overview</Link>.
        </p>
      </div>
      <Verdict readiness={readiness} command={reportCommand(params, readiness)} />
      <div className="detail-grid">
        {readiness.target !== null && (
          <section className="panel">
            <h2>
              Removed in {readiness.target} <span data-testid="removed-count">{report.removed.length}</span>
            </h2>
            <Findings
              findings={report.removed}
              query={endpointQuery.toString()}
              empty={`Nothing this selection calls is missing from ${readiness.target}.`}
              testId="removed"
            />
          </section>
        )}
        <section className="panel">
          <h2>
            Deprecated in {readiness.release}{" "}
            <span data-testid="deprecated-count">{report.deprecated.length}</span>
          </h2>
          <Findings
            findings={report.deprecated}
            query={endpointQuery.toString()}
            empty="Nothing this selection calls is deprecated."
            testId="deprecated"
          />
        </section>
      </div>
    </>
  );
}

/** The exit code CI would get, what it means, and the command that gets it. */
function Verdict({ readiness, command }: { readiness: ReadinessReport; command: string }) {
  const { report, exitCode } = readiness;
  return (
    <section className={`notice verdict${exitCode === 0 ? "" : " notice-error"}`} data-testid="verdict">
      <h2>
        exit <span data-testid="exit-code">{exitCode}</span>:{" "}
        {VERDICTS[exitCode] ?? "see apisnoop report --help"}
      </h2>
      <p>
        {`${report.used} operations called; ${report.deprecated.length} deprecated`}
        {readiness.target ? `, ${report.removed.length} removed in ${readiness.target}` : ""}
        {`; conformance-eligible coverage ${report.coverage.tested} / ${report.coverage.eligible} (${report.coverage.percent}%). `}
        The same check in CI, where the exit code gates the pipeline:
      </p>
      <pre className="mono command" data-testid="report-command">
        {command}
      </pre>
    </section>
  );
}

/** Callers listed by name before the rest are only counted. */
const CALLERS_SHOWN = 3;

/** One row per flagged endpoint, as GKE's deprecation insights list them. */
function Findings({
  findings,
  query,
  empty,
  testId,
}: {
  findings: Finding[];
  query: string;
  empty: string;
  testId: string;
}) {
  if (findings.length === 0) return <p className="empty">{empty}</p>;
  return (
    <table className="table" data-testid={testId}>
      <thead>
        <tr>
          <th>endpoint</th>
          <th>use instead</th>
          <th>called by</th>
          <th className="num">hits</th>
          <th>last called</th>
        </tr>
      </thead>
      <tbody>
        {findings.map((finding) => (
          <tr key={finding.operationId} data-operation-id={finding.operationId}>
            <td>
              <Link href={endpointHref(finding.operationId, query)}>{finding.operationId}</Link>{" "}
              <LevelBadge level={finding.level} deprecated={false} />
              <div className="mono small">
                {finding.method} {finding.path}
              </div>
              <div className="muted small">{finding.reason}</div>
            </td>
            <td className="mono small">{finding.replacement ?? "—"}</td>
            <td className="small">
              {finding.callers.slice(0, CALLERS_SHOWN).map((caller) => (
                <div key={`${caller.userAgent} ${caller.name} ${caller.pod} ${caller.e2eTest}`}>
                  {callerLabel(caller)} · {caller.hits.toLocaleString("en")}
                </div>
              ))}
              {finding.callers.length > CALLERS_SHOWN && (
                <div className="muted">and {finding.callers.length - CALLERS_SHOWN} more</div>
              )}
            </td>
            <td className="num">{finding.hits.toLocaleString("en")}</td>
            <td className="small">
              {finding.lastSeen
                ? new Date(finding.lastSeen).toISOString().slice(0, 16).replace("T", " ")
                : "—"}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function callerLabel(caller: Finding["callers"][number]): string {
  return sourceLabel({
    conformance: false,
    serviceAccount: null,
    helmRelease: null,
    managedBy: null,
    cluster: null,
    run: null,
    ...caller,
  });
}

/** The selection in words. */
function describeSelection(filters: DashboardFilters): string {
  const chosen = SOURCE_FILTERS.flatMap((name) => {
    const value = filters[name];
    return value === undefined ? [] : [`${name}=${value}`];
  });
  return chosen.length > 0 ? chosen.join(", ") : "all sources";
}

/** The `apisnoop report` command line for the same selection and target. */
function reportCommand(params: URLSearchParams, readiness: ReadinessReport): string {
  const words = ["npx", "apisnoop", "report"];
  for (const name of SOURCE_FILTERS) {
    for (const value of params.getAll(name))
      if (value.trim()) words.push("--source", `${name}=${value.trim()}`);
  }
  words.push("--release", readiness.release);
  for (const name of ["from", "to", "outcome"] as const) {
    const value = params.get(name)?.trim();
    if (value) words.push(`--${name}`, value);
  }
  if (readiness.target) words.push("--target-release", readiness.target);
  return words
    .map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}
