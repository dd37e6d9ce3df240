import type { Endpoint, EndpointCatalog } from "@apisnoop/openapi";
import { LEVEL_RANK, type Level } from "@apisnoop/openapi/level";
import { isConformanceEligible } from "./eligibility";
import { versionlessShape } from "./release-diff";

/** Operation usage as the database reports it (see `getUsage` in packages/db). */
export interface UsedOperation {
  operationId: string;
  hits: number;
  /** When it was last called, when the source of the usage knows. */
  lastSeen?: Date;
  callers: {
    userAgent: string;
    name: string | null;
    e2eTest: string | null;
    namespace: string | null;
    pod: string | null;
    chart: string | null;
    hits: number;
  }[];
}

/** A used operation a CI should hear about. */
export interface Finding {
  operationId: string;
  method: string;
  path: string;
  level: Level;
  hits: number;
  /** When it was last called, when known. */
  lastSeen: Date | null;
  callers: UsedOperation["callers"];
  /** Why it is flagged, in a sentence. */
  reason: string;
  /** The operation to move to, when one exists. */
  replacement: string | null;
}

/** The deprecated/removed API report for one selection of sources. */
export interface UsageReport {
  release: string;
  targetRelease: string | null;
  /** Operations of the release the selection called. */
  used: number;
  deprecated: Finding[];
  removed: Finding[];
  /** Conformance-eligible endpoints of the release the selection hit, of all eligible ones. */
  coverage: { eligible: number; tested: number; percent: number };
  minCoverage: number | null;
  /** The same count for the baseline selection (`--baseline run=A`), and what it covered that this misses. */
  baseline: BaselineCoverage | null;
}

/** The conformance-eligible coverage of a baseline selection, beside the report's own. */
export interface BaselineCoverage {
  /** What the baseline is, for people: `run=main-1234`. */
  label: string;
  eligible: number;
  tested: number;
  percent: number;
  /** Conformance-eligible endpoints the baseline hit and the selection did not, with the baseline's callers. */
  lost: Array<Pick<Finding, "operationId" | "method" | "path" | "level" | "hits" | "callers">>;
  /** Conformance-eligible endpoints the selection hit and the baseline did not. */
  gained: string[];
}

/**
 * Exit codes a CI can use, as pluto does: a removed endpoint used (3) before a deprecated one (2) before
 * fewer conformance-eligible endpoints covered than the baseline (5) before coverage below the minimum (4).
 */
export const REPORT_EXIT = {
  clean: 0,
  deprecated: 2,
  removed: 3,
  belowCoverage: 4,
  belowBaseline: 5,
} as const;

/**
 * Flags what a selection called: operations deprecated in the release (the `/watch/` paths, or an
 * alpha/beta version superseded by a higher level of the same operation in the same release), and
 * operations absent from the target release, with the replacement when the target has the same operation
 * at another version.
 */
export function buildUsageReport(
  usage: readonly UsedOperation[],
  catalog: EndpointCatalog,
  ineligible: ReadonlyMap<string, unknown>,
  options: {
    target?: EndpointCatalog;
    minCoverage?: number;
    /** A baseline selection's usage: the report counts what it covered, and what this selection lost. */
    baseline?: { label: string; usage: readonly UsedOperation[] };
  } = {},
): UsageReport {
  const byShape = new Map<string, Endpoint[]>();
  for (const endpoint of catalog.endpoints)
    byShape.set(versionlessShape(endpoint), [...(byShape.get(versionlessShape(endpoint)) ?? []), endpoint]);
  const targetByShape = new Map<string, Endpoint>();
  for (const endpoint of options.target?.endpoints ?? []) {
    const shape = versionlessShape(endpoint);
    const current = targetByShape.get(shape);
    if (!current || LEVEL_RANK[endpoint.level] > LEVEL_RANK[current.level])
      targetByShape.set(shape, endpoint);
  }
  const deprecated: Finding[] = [];
  const removed: Finding[] = [];
  let used = 0;
  const tested = new Set<string>();
  for (const operation of usage) {
    const endpoint = catalog.byOperationId.get(operation.operationId);
    if (!endpoint) continue;
    used++;
    tested.add(endpoint.operationId);
    const finding = (reason: string, replacement: string | null): Finding => ({
      operationId: endpoint.operationId,
      method: endpoint.method,
      path: endpoint.path,
      level: endpoint.level,
      hits: operation.hits,
      lastSeen: operation.lastSeen ?? null,
      callers: operation.callers,
      reason,
      replacement,
    });
    if (endpoint.deprecated) {
      deprecated.push(finding("deprecated: use the list operation with ?watch=true", null));
    } else {
      const better = (byShape.get(versionlessShape(endpoint)) ?? []).find(
        (e) => LEVEL_RANK[e.level] > LEVEL_RANK[endpoint.level],
      );
      if (better)
        deprecated.push(
          finding(
            `superseded by ${better.level} ${better.operationId} in ${catalog.release}`,
            better.operationId,
          ),
        );
    }
    if (options.target && !options.target.byOperationId.has(endpoint.operationId)) {
      const replacement = targetByShape.get(versionlessShape(endpoint)) ?? null;
      removed.push(finding(`not served by ${options.target.release}`, replacement?.operationId ?? null));
    }
  }
  const eligible = catalog.endpoints.filter((e) => isConformanceEligible(e, ineligible));
  const eligibleTested = eligible.filter((e) => tested.has(e.operationId)).length;
  const percentOf = (count: number) =>
    eligible.length === 0 ? 0 : Math.round((count / eligible.length) * 1000) / 10;
  let baseline: BaselineCoverage | null = null;
  if (options.baseline) {
    const before = new Map(options.baseline.usage.map((operation) => [operation.operationId, operation]));
    const covered = eligible.filter((e) => before.has(e.operationId));
    baseline = {
      label: options.baseline.label,
      eligible: eligible.length,
      tested: covered.length,
      percent: percentOf(covered.length),
      lost: covered
        .filter((e) => !tested.has(e.operationId))
        .map((e) => {
          const operation = before.get(e.operationId) as UsedOperation;
          const { operationId, method, path, level } = e;
          return { operationId, method, path, level, hits: operation.hits, callers: operation.callers };
        }),
      gained: eligible
        .filter((e) => tested.has(e.operationId) && !before.has(e.operationId))
        .map((e) => e.operationId),
    };
  }
  return {
    release: catalog.release ?? "",
    targetRelease: options.target?.release ?? null,
    used,
    deprecated,
    removed,
    coverage: {
      eligible: eligible.length,
      tested: eligibleTested,
      percent: percentOf(eligibleTested),
    },
    minCoverage: options.minCoverage ?? null,
    baseline,
  };
}

/** The selection covers fewer conformance-eligible endpoints than its baseline. */
export function belowBaseline(report: UsageReport): boolean {
  return report.baseline !== null && report.coverage.tested < report.baseline.tested;
}

/**
 * The exit code of a report: removed (3) before deprecated (2) before fewer conformance-eligible endpoints
 * than the baseline (5) before coverage below the minimum (4).
 */
export function reportExitCode(report: UsageReport): number {
  if (report.removed.length > 0) return REPORT_EXIT.removed;
  if (report.deprecated.length > 0) return REPORT_EXIT.deprecated;
  if (belowBaseline(report)) return REPORT_EXIT.belowBaseline;
  if (report.minCoverage !== null && report.coverage.percent < report.minCoverage)
    return REPORT_EXIT.belowCoverage;
  return REPORT_EXIT.clean;
}

/** Who a caller is, for people: its source name, chart, pod, e2e test or user agent, and its hits. */
export function callerLabel(caller: UsedOperation["callers"][number]): string {
  const who =
    caller.name ??
    caller.chart ??
    (caller.pod ? `${caller.namespace}/${caller.pod}` : null) ??
    caller.e2eTest ??
    caller.userAgent;
  return `${who} (${caller.hits})`;
}

/** The report as plain text for a terminal. */
export function formatReportText(report: UsageReport): string {
  const lines = [
    `apisnoop report for ${report.release}${report.targetRelease ? ` (target ${report.targetRelease})` : ""}: ${report.used} operations used, ${report.deprecated.length} deprecated, ${report.removed.length} removed in target`,
    `conformance-eligible coverage: ${report.coverage.tested}/${report.coverage.eligible} (${report.coverage.percent}%)${report.minCoverage !== null ? `, minimum ${report.minCoverage}%` : ""}`,
  ];
  const { baseline } = report;
  if (baseline) {
    lines.push(
      `baseline ${baseline.label}: ${baseline.tested}/${baseline.eligible} (${baseline.percent}%); ${report.coverage.tested - baseline.tested >= 0 ? "+" : ""}${report.coverage.tested - baseline.tested}, ${baseline.gained.length} gained, ${baseline.lost.length} lost${belowBaseline(report) ? ": FEWER than the baseline" : ""}`,
    );
    if (baseline.lost.length > 0) {
      lines.push("", `Covered by ${baseline.label}, not by this selection:`);
      for (const lost of baseline.lost) {
        lines.push(`  ${lost.operationId} (${lost.method} ${lost.path})`);
        lines.push(`    called there by ${lost.callers.map(callerLabel).join(", ")}`);
      }
    }
  }
  for (const [title, findings] of [
    ["Removed in the target release", report.removed],
    ["Deprecated", report.deprecated],
  ] as const) {
    if (findings.length === 0) continue;
    lines.push("", `${title}:`);
    for (const f of findings) {
      lines.push(
        `  ${f.operationId} (${f.method} ${f.path}), ${f.hits} hits: ${f.reason}${f.replacement ? `; use ${f.replacement}` : ""}`,
      );
      lines.push(`    called by ${f.callers.map(callerLabel).join(", ")}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/** The report as Markdown, for a pull-request comment. */
export function formatReportMarkdown(report: UsageReport): string {
  const lines = [
    `### apisnoop report: ${report.release}${report.targetRelease ? ` → ${report.targetRelease}` : ""}`,
    "",
    `- operations used: **${report.used}**`,
    `- conformance-eligible coverage: **${report.coverage.tested}/${report.coverage.eligible} (${report.coverage.percent}%)**`,
    `- deprecated used: **${report.deprecated.length}**, removed in target: **${report.removed.length}**`,
  ];
  const { baseline } = report;
  if (baseline) {
    const delta = report.coverage.tested - baseline.tested;
    lines.push(
      `- baseline ${markdownCell(baseline.label)}: **${baseline.tested}/${baseline.eligible} (${baseline.percent}%)**, ${delta >= 0 ? "+" : ""}${delta} (${baseline.gained.length} gained, ${baseline.lost.length} lost)${belowBaseline(report) ? " — :x: **fewer conformance-eligible endpoints than the baseline**" : ""}`,
    );
    if (baseline.lost.length > 0) {
      lines.push("", `| lost since the baseline | level | called there by |`, "|---|---|---|");
      for (const lost of baseline.lost) {
        lines.push(
          `| \`${lost.operationId}\` | ${lost.level} | ${markdownCell(lost.callers.map(callerLabel).join(", "))} |`,
        );
      }
    }
  }
  const findings = [
    ...report.removed.map((f) => ["removed", f] as const),
    ...report.deprecated.map((f) => ["deprecated", f] as const),
  ];
  if (findings.length > 0) {
    lines.push("", "| | operation | hits | why | use instead | called by |", "|---|---|---|---|---|---|");
    for (const [kind, f] of findings) {
      lines.push(
        `| ${kind} | \`${f.operationId}\` | ${f.hits} | ${f.reason} | ${f.replacement ? `\`${f.replacement}\`` : ""} | ${markdownCell(f.callers.map(callerLabel).join(", "))} |`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Text inside a Markdown table cell: pipes escaped and line breaks flattened, since names come from
 * clients (user agents, e2e test names) and must not break the table or open markup in a PR comment.
 */
export function markdownCell(text: string): string {
  return text.replace(/[\r\n]+/g, " ").replace(/[\\`*_[\]<>|]/g, (c) => `\\${c}`);
}

const xml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The report as JUnit XML: one test case per flagged operation plus the coverage gate. */
export function formatReportJunit(report: UsageReport): string {
  const cases: string[] = [];
  for (const [kind, findings] of [
    ["removed", report.removed],
    ["deprecated", report.deprecated],
  ] as const) {
    for (const f of findings) {
      cases.push(
        `    <testcase classname="apisnoop.${kind}" name="${xml(f.operationId)}"><failure message="${xml(f.reason)}">${xml(`${f.method} ${f.path}: ${f.hits} hits by ${f.callers.map(callerLabel).join(", ")}`)}</failure></testcase>`,
      );
    }
  }
  const belowMinimum = report.minCoverage !== null && report.coverage.percent < report.minCoverage;
  cases.push(
    `    <testcase classname="apisnoop.coverage" name="conformance-eligible coverage ${report.coverage.percent}%">${belowMinimum ? `<failure message="below the minimum of ${report.minCoverage}%"/>` : ""}</testcase>`,
  );
  const { baseline } = report;
  const fewer = belowBaseline(report);
  if (baseline) {
    cases.push(
      `    <testcase classname="apisnoop.baseline" name="${xml(`conformance-eligible endpoints ${report.coverage.tested} vs ${baseline.tested} of ${baseline.label}`)}">${fewer ? `<failure message="fewer than the baseline">${xml(`lost: ${baseline.lost.map((lost) => lost.operationId).join(", ")}`)}</failure>` : ""}</testcase>`,
    );
  }
  const failures =
    report.removed.length + report.deprecated.length + (belowMinimum ? 1 : 0) + (fewer ? 1 : 0);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="apisnoop ${xml(report.release)}" tests="${cases.length}" failures="${failures}">\n${cases.join("\n")}\n  </testsuite>\n</testsuites>\n`;
}
