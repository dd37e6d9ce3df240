/** The per-test report of a conformance run: console text, Markdown for the README, JSON for tools. */

import type { DifferenceClass } from "./difference-classes";
import type { ComparisonSummary, ExplainedDifference, TestComparison } from "./endpoint-comparison";
import type { SpecResult } from "./ginkgo-report";

export interface ConformanceReport {
  release: string;
  kubeVersion: string;
  generatedAt: string;
  /** Ran on a rig with its node (pods run), or API-only. */
  node?: boolean;
  /** Parallel e2e processes. */
  procs?: number;
  durations: Record<string, number>;
  hits: number;
  unattributedHits: number;
  summary: ComparisonSummary;
  classes: { id: string; title: string; why: string; side: string }[];
  tests: (TestComparison & {
    durationSeconds: number;
    failure?: string;
    nonStable: string[];
    unmatched: string[];
  })[];
}

const UNEXPLAINED = "UNEXPLAINED";

function differenceLine(sign: string, d: ExplainedDifference): string {
  return `      ${sign} ${d.endpoint.padEnd(58)} ${d.explanation ?? UNEXPLAINED}`;
}

/** Console text: one block per test (state, time, counts, each difference with its class), then totals. */
export function formatReportText(report: ConformanceReport): string {
  const lines: string[] = [];
  for (const t of report.tests) {
    lines.push(
      `${t.state === "passed" ? "PASS" : t.state.toUpperCase()} ${t.durationSeconds.toFixed(1)}s ${t.test}`,
    );
    lines.push(
      `      matches ${t.matches.length}, extras ${t.extras.length}, misses ${t.misses.length}${t.published ? "" : " (not in apisnoop's data)"}`,
    );
    for (const d of t.extras) lines.push(differenceLine("+", d));
    for (const d of t.misses) lines.push(differenceLine("-", d));
  }
  const s = report.summary;
  lines.push(
    "",
    `${s.passed}/${s.tests} tests passed through the proxy; ${s.identical} with exactly apisnoop's endpoint set`,
    `endpoints: ${s.matches} matches, ${s.extras} extras, ${s.misses} misses; unexplained differences: ${s.unexplained}`,
  );
  for (const c of report.classes) {
    const n = s.byClass[c.id];
    if (n) lines.push(`  ${String(n).padStart(4)}  ${c.id}: ${c.title}`);
  }
  lines.push(`durations (s): ${JSON.stringify(report.durations)}`);
  return lines.join("\n");
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

/** Markdown: the per-test table (matches / extras / misses with classes) and the class legend. */
export function formatReportMarkdown(report: ConformanceReport): string {
  const diffCell = (ds: ExplainedDifference[]) =>
    ds.length === 0
      ? "0"
      : `${ds.length}: ${ds.map((d) => `${d.endpoint} (${d.explanation ?? UNEXPLAINED})`).join(", ")}`;
  const rows = report.tests.map(
    (t) =>
      `| ${escapeCell(t.test)} | ${t.state} | ${t.durationSeconds.toFixed(1)} | ${t.matches.length} | ${diffCell(t.extras)} | ${diffCell(t.misses)} |`,
  );
  const s = report.summary;
  const used = report.classes.filter((c) => s.byClass[c.id]);
  return [
    `${s.passed}/${s.tests} passed; ${s.identical} identical to apisnoop's ${report.release} sets; ${s.matches} matches, ${s.extras} extras, ${s.misses} misses, ${s.unexplained} unexplained.`,
    "",
    "| test | result | s | matches | extras (+) | misses (−) |",
    "|---|---|---|---|---|---|",
    ...rows,
    "",
    "| class | differences | what | why |",
    "|---|---|---|---|",
    ...used.map((c) => `| ${c.id} | ${s.byClass[c.id]} | ${escapeCell(c.title)} | ${escapeCell(c.why)} |`),
  ].join("\n");
}

/** The report's rows: comparisons joined with the run's per-spec results and the observed leftovers. */
export function reportTests(
  comparisons: readonly TestComparison[],
  specs: readonly SpecResult[],
  nonStable: Map<string, Set<string>>,
  unmatched: Map<string, Set<string>>,
): ConformanceReport["tests"] {
  const byName = new Map(specs.map((s) => [s.name, s]));
  return comparisons.map((c) => {
    const spec = byName.get(c.test);
    const row: ConformanceReport["tests"][number] = {
      ...c,
      durationSeconds: spec?.durationSeconds ?? 0,
      nonStable: [...(nonStable.get(c.test) ?? [])].sort(),
      unmatched: [...(unmatched.get(c.test) ?? [])].sort(),
    };
    if (spec?.failure) row.failure = spec.failure;
    return row;
  });
}

/** The class legend as plain data for report.json. */
export function classLegend(classes: readonly DifferenceClass[]): ConformanceReport["classes"] {
  return classes.map(({ id, title, why, side }) => ({ id, title, why, side }));
}
