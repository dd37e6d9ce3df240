import type { CoverageReport } from "../data/dashboard-data";

const COLUMNS = [
  "operationId",
  "method",
  "path",
  "level",
  "category",
  "group",
  "version",
  "kind",
  "deprecated",
  "conformanceEligible",
  "hits",
  "upstreamTested",
] as const;

/**
 * The endpoints of a coverage report as CSV (RFC 4180: CRLF line ends, fields quoted when they hold a
 * comma, quote or line break), one row per endpoint of the release, in the report's order.
 */
export function coverageCsv(report: CoverageReport): string {
  const lines = [COLUMNS.join(",")];
  for (const endpoint of report.endpoints) {
    lines.push(COLUMNS.map((column) => csvField(endpoint[column])).join(","));
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** One CSV field: null as empty, booleans as true/false, quoted when needed. */
export function csvField(value: string | number | boolean | null): string {
  if (value === null) return "";
  const text = String(value);
  // A leading =, +, - or @ would be a formula in a spreadsheet; paths and ids never start with one.
  const safe = /^[=+\-@]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
