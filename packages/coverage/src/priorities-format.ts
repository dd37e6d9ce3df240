import { type CsvValue, csvTable } from "./coverage-csv";

/**
 * Renderings of a priorities report — what real workloads use that the conformance suite does not test
 * yet — for a terminal, an issue or a SIG meeting's notes (Markdown), and spreadsheets (CSV). The
 * dashboard's `/api/v1/priorities.csv` and `apisnoop priorities` share them, so both give the same bytes.
 */

/** An endpoint row of a priorities report (packages/db's `PriorityEndpoint`). */
export interface PriorityEndpointRow {
  operationId: string;
  method: string;
  path: string;
  level: string;
  conformanceEligible: boolean;
  workloads: number;
  hits: number;
  e2eTested: boolean;
  workloadNames: readonly string[];
}

/** A field row of a priorities report (packages/db's `PriorityField`). */
export interface PriorityFieldRow {
  operationId: string;
  direction: "request" | "response";
  field: string;
  workloads: number;
  hits: number;
  endpointConformanceTested: boolean;
  conformanceBodiesRecorded: boolean;
  workloadNames: readonly string[];
}

/** What the renderings need of a priorities report (packages/db's `Priorities`). */
export interface PrioritiesReport {
  release: string;
  outcome: string;
  endpoints: readonly PriorityEndpointRow[];
  fields: readonly PriorityFieldRow[];
  promotionWatch: readonly PriorityEndpointRow[];
  totals: {
    workloads: number;
    endpoints: number;
    eligibleEndpoints: number;
    fields: number;
    promotionWatch: number;
  };
  conformance: {
    runTests: number;
    publishedTests: number;
    endpointsTested: number;
    endpointsWithFields: number;
  };
}

/** Names listed per row in text and Markdown; the CSV and JSON carry them all. */
const NAMES_SHOWN = 6;

function names(list: readonly string[]): string {
  const shown = list.slice(0, NAMES_SHOWN).join(", ");
  return list.length > NAMES_SHOWN ? `${shown} +${list.length - NAMES_SHOWN} more` : shown;
}

const plural = (count: number, one: string, many = `${one}s`) =>
  `${count.toLocaleString("en")} ${count === 1 ? one : many}`;

/** One sentence on where the conformance coverage came from, and what published data lacks. */
export function conformanceSourceSentence(report: Pick<PrioritiesReport, "conformance">): string {
  const { runTests, publishedTests } = report.conformance;
  if (runTests === 0 && publishedTests === 0) {
    return "No conformance test is recorded for this release: every endpoint and field workloads use is listed.";
  }
  const parts: string[] = [];
  if (runTests > 0)
    parts.push(`${plural(runTests, "conformance test")} run through the proxy (endpoints and fields)`);
  if (publishedTests > 0) {
    parts.push(
      `${plural(publishedTests, "conformance test")} of apisnoop's published data (endpoints only: it has no fields)`,
    );
  }
  return `Conformance coverage from ${parts.join(" and ")}.`;
}

/**
 * What to do when a selection has no workload: published data holds e2e tests only, so a fresh start
 * has conformance coverage and nothing to rank against it until workloads are measured.
 */
export function noWorkloadSentence(release: string): string {
  return (
    "No workload's calls are recorded in this selection, so there is nothing to rank yet (apisnoop's " +
    "published data holds e2e tests only). Measure workloads through the proxy (`npm start` writes " +
    "`apisnoop.kubeconfig` for Helm, operators and kubectl; `npm run demo` runs a scripted workload) or " +
    `import an audit log or a hit file (\`apisnoop import audit|hits FILE --release ${release}\`).`
  );
}

/**
 * Why field gaps are uncertain when no conformance run through the proxy is recorded for the release: the
 * published data has no bodies, so on an endpoint a conformance test hits, a listed field may be carried.
 * Null when some conformance bodies are recorded or there is no field gap.
 */
export function fieldEvidenceSentence(
  report: Pick<PrioritiesReport, "conformance" | "totals">,
): string | null {
  if (report.conformance.endpointsWithFields > 0 || report.totals.fields === 0) return null;
  return (
    "No conformance test's bodies are recorded for this release (no conformance run through the proxy), so " +
    "on an endpoint a conformance test hits, a field listed here may be carried all the same. Record a run " +
    "(`npm run e2e:conformance`, or `e2e.test --kubeconfig apisnoop.kubeconfig`) to find the real field gaps."
  );
}

/** The line under the title: the workloads, where conformance coverage came from, what to do without workloads. */
function summary(report: PrioritiesReport): string {
  const line = `${plural(report.totals.workloads, "workload")}. ${conformanceSourceSentence(report)}`;
  return report.totals.workloads === 0 ? `${line} ${noWorkloadSentence(report.release)}` : line;
}

/** "(showing 100 of 2,345)" when a list was cut at its limit, else "". */
function shownOf(shown: number, total: number): string {
  return shown < total ? ` (showing ${shown.toLocaleString("en")} of ${total.toLocaleString("en")})` : "";
}

function title(report: PrioritiesReport): string {
  return `What workloads use that conformance tests do not: release ${report.release}${report.outcome === "2xx" ? ", successful calls only" : ""}`;
}

/** The report as plain text for a terminal. */
export function formatPrioritiesText(report: PrioritiesReport): string {
  const lines = [
    title(report),
    summary(report),
    "",
    `Endpoints no conformance test hits: ${report.totals.endpoints} (${report.totals.eligibleEndpoints} conformance-eligible)${shownOf(report.endpoints.length, report.totals.endpoints)}`,
  ];
  const table = (rows: string[][]) => {
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? "").length))) ?? [];
    for (const row of rows) {
      lines.push(
        `  ${row
          .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
          .join("  ")
          .trimEnd()}`,
      );
    }
  };
  const endpointRows = (rows: readonly PriorityEndpointRow[], eligibleColumn: boolean) => [
    [
      "#",
      "workloads",
      "hits",
      "endpoint",
      "level",
      ...(eligibleColumn ? ["eligible"] : []),
      "e2e",
      "used by",
    ],
    ...rows.map((row, i) => [
      String(i + 1),
      String(row.workloads),
      String(row.hits),
      row.operationId,
      row.level,
      ...(eligibleColumn ? [row.conformanceEligible ? "yes" : "no"] : []),
      row.e2eTested ? "e2e" : "",
      names(row.workloadNames),
    ]),
  ];
  if (report.endpoints.length > 0) table(endpointRows(report.endpoints, true));
  lines.push(
    "",
    `Body fields no conformance test carried: ${report.totals.fields}${shownOf(report.fields.length, report.totals.fields)}`,
  );
  const fieldEvidence = fieldEvidenceSentence(report);
  if (fieldEvidence) lines.push(fieldEvidence);
  if (report.fields.length > 0) {
    table([
      ["#", "workloads", "hits", "endpoint", "in", "field", "endpoint tested", "used by"],
      ...report.fields.map((row, i) => [
        String(i + 1),
        String(row.workloads),
        String(row.hits),
        row.operationId,
        row.direction,
        row.field,
        fieldEndpointStatus(row),
        names(row.workloadNames),
      ]),
    ]);
  }
  lines.push(
    "",
    `Promotion watch, alpha and beta endpoints workloads depend on: ${report.totals.promotionWatch}${shownOf(report.promotionWatch.length, report.totals.promotionWatch)}`,
  );
  if (report.promotionWatch.length > 0) table(endpointRows(report.promotionWatch, false));
  return `${lines.join("\n")}\n`;
}

/** Whether a field gap's endpoint is tested, and whether conformance bodies were seen there at all. */
export function fieldEndpointStatus(
  row: Pick<PriorityFieldRow, "endpointConformanceTested" | "conformanceBodiesRecorded">,
): string {
  if (!row.endpointConformanceTested) return "no";
  return row.conformanceBodiesRecorded ? "yes" : "yes, no bodies recorded";
}

const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");
const code = (text: string) => `\`${text.replaceAll("`", "'")}\``;

/** The report as Markdown, for an issue or a meeting's notes. */
export function formatPrioritiesMarkdown(report: PrioritiesReport): string {
  const lines = [
    `### ${title(report)}`,
    "",
    summary(report),
    "",
    `#### Endpoints no conformance test hits: ${report.totals.endpoints} (${report.totals.eligibleEndpoints} conformance-eligible)${shownOf(report.endpoints.length, report.totals.endpoints)}`,
  ];
  const endpointTable = (rows: readonly PriorityEndpointRow[], eligibleColumn: boolean) => {
    if (rows.length === 0) {
      lines.push("", "None.");
      return;
    }
    lines.push(
      "",
      `| # | endpoint | level |${eligibleColumn ? " eligible |" : ""} workloads | hits | other e2e test | used by |`,
      `|---|---|---|${eligibleColumn ? "---|" : ""}---|---|---|---|`,
    );
    rows.forEach((row, i) => {
      lines.push(
        `| ${i + 1} | ${code(row.operationId)} | ${row.level} |${eligibleColumn ? ` ${row.conformanceEligible ? "yes" : "no"} |` : ""} ${row.workloads} | ${row.hits} | ${row.e2eTested ? "yes" : ""} | ${cell(names(row.workloadNames))} |`,
      );
    });
  };
  endpointTable(report.endpoints, true);
  lines.push(
    "",
    `#### Body fields no conformance test carried: ${report.totals.fields}${shownOf(report.fields.length, report.totals.fields)}`,
  );
  const fieldEvidence = fieldEvidenceSentence(report);
  if (fieldEvidence) lines.push("", fieldEvidence);
  if (report.fields.length === 0) lines.push("", "None.");
  else {
    lines.push(
      "",
      "| # | endpoint | in | field | workloads | hits | endpoint tested | used by |",
      "|---|---|---|---|---|---|---|---|",
    );
    report.fields.forEach((row, i) => {
      lines.push(
        `| ${i + 1} | ${code(row.operationId)} | ${row.direction} | ${code(row.field)} | ${row.workloads} | ${row.hits} | ${fieldEndpointStatus(row)} | ${cell(names(row.workloadNames))} |`,
      );
    });
  }
  lines.push(
    "",
    `#### Promotion watch: alpha and beta endpoints workloads depend on: ${report.totals.promotionWatch}${shownOf(report.promotionWatch.length, report.totals.promotionWatch)}`,
  );
  endpointTable(report.promotionWatch, false);
  return `${lines.join("\n")}\n`;
}

/** The columns of the priorities CSV, in order: one table for the three lists, told apart by `list`. */
export const PRIORITIES_CSV_COLUMNS = [
  "list",
  "rank",
  "operationId",
  "method",
  "path",
  "level",
  "conformanceEligible",
  "direction",
  "field",
  "workloads",
  "hits",
  "e2eTested",
  "endpointConformanceTested",
  "conformanceBodiesRecorded",
  "workloadNames",
] as const;

type PrioritiesCsvRecord = Record<(typeof PRIORITIES_CSV_COLUMNS)[number], CsvValue>;

/**
 * The report as CSV: the endpoints (`list` = endpoints), the field gaps (fields) and the promotion watch
 * (promotionWatch), each in rank order; columns a list has no value for are empty; workload names are
 * joined with "; ".
 */
export function formatPrioritiesCsv(report: PrioritiesReport): string {
  const endpoint = (list: string, row: PriorityEndpointRow, rank: number): PrioritiesCsvRecord => ({
    list,
    rank,
    operationId: row.operationId,
    method: row.method,
    path: row.path,
    level: row.level,
    conformanceEligible: row.conformanceEligible,
    direction: null,
    field: null,
    workloads: row.workloads,
    hits: row.hits,
    e2eTested: row.e2eTested,
    endpointConformanceTested: list === "endpoints" ? false : null,
    conformanceBodiesRecorded: null,
    workloadNames: row.workloadNames.join("; "),
  });
  const records: PrioritiesCsvRecord[] = [
    ...report.endpoints.map((row, i) => endpoint("endpoints", row, i + 1)),
    ...report.fields.map(
      (row, i): PrioritiesCsvRecord => ({
        list: "fields",
        rank: i + 1,
        operationId: row.operationId,
        method: null,
        path: null,
        level: null,
        conformanceEligible: null,
        direction: row.direction,
        field: row.field,
        workloads: row.workloads,
        hits: row.hits,
        e2eTested: null,
        endpointConformanceTested: row.endpointConformanceTested,
        conformanceBodiesRecorded: row.conformanceBodiesRecorded,
        workloadNames: row.workloadNames.join("; "),
      }),
    ),
    ...report.promotionWatch.map((row, i) => endpoint("promotionWatch", row, i + 1)),
  ];
  return csvTable(PRIORITIES_CSV_COLUMNS, records);
}
