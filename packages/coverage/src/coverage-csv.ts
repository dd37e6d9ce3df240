import type { EndpointCoverageRow } from "./endpoint-coverage";

/** The columns of the coverage CSV (`/api/v1/coverage.csv`, `apisnoop export --format csv`), in order. */
export const COVERAGE_CSV_COLUMNS = [
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

/** A value a CSV field can hold. */
export type CsvValue = string | number | boolean | null;

/**
 * The endpoints of a coverage report as CSV, one row per endpoint in the given order, with the columns of
 * `COVERAGE_CSV_COLUMNS`.
 */
export function coverageCsv(
  endpoints: readonly Pick<EndpointCoverageRow, (typeof COVERAGE_CSV_COLUMNS)[number]>[],
): string {
  return csvTable(COVERAGE_CSV_COLUMNS, endpoints);
}

/**
 * A CSV table (RFC 4180: a header line, CRLF line ends, fields quoted when they hold a comma, quote or line
 * break), one row per record, the fields named by `columns`.
 */
export function csvTable<C extends string>(
  columns: readonly C[],
  records: readonly Readonly<Record<C, CsvValue>>[],
): string {
  const lines = [columns.map(csvField).join(",")];
  for (const record of records) lines.push(columns.map((column) => csvField(record[column])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

/** One CSV field: null as empty, booleans as true/false, quoted when needed. */
export function csvField(value: CsvValue): string {
  if (value === null) return "";
  const text = String(value);
  // A leading =, +, - or @ would be a formula in a spreadsheet; paths and ids never start with one.
  const safe = /^[=+\-@]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
