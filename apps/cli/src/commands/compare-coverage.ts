import { type CoverageCount, type CoverageDiff, coveragePercent, diffCoverage } from "@apisnoop/coverage";
import { type CoverageFilters, type EndpointCoverage, getCoverage, NotFoundError } from "@apisnoop/db";
import { CliError } from "../cli-error";
import type { CommandIO } from "../command";
import { withDatabase } from "../database-option";
import { selectionFilters } from "../selection-option";

/** A time window as given: `START..END`, either end may be empty. */
export interface WindowArg {
  start?: string;
  end?: string;
}

/** What `--from` and `--to` name: two releases, or two time windows of one release. */
export type CompareSides =
  | { kind: "releases"; from: string; to: string }
  | { kind: "windows"; from: WindowArg; to: WindowArg };

/** Which hits the coverage comparison counts: the `--source` and `--outcome` flags. */
export interface CompareSelection {
  source: string[];
  outcome?: string;
}

/** One endpoint's coverage in the CLI's comparison. */
type Row = EndpointCoverage;

/** The coverage comparison of a selection, ready to print. */
export interface ComparedCoverage {
  release: string | null;
  selection: CompareSelection;
  diff: CoverageDiff<Row>;
  /** The JSON form: counts, and operationIds per list. */
  json: ReturnType<typeof coverageDiffJson>;
}

function parseWindow(value: string): WindowArg {
  const [start, end] = value.split("..", 2).map((part) => part.trim());
  return { ...(start ? { start } : {}), ...(end ? { end } : {}) };
}

/**
 * `--from` and `--to` as two releases (or spec files), or two time windows `START..END`; one of each is a
 * usage error.
 */
export function parseCompareSides(from: string, to: string): CompareSides {
  // Times never hold a slash; spec paths and URLs (`../shared/k8s/...`) do.
  const windows = [from, to].filter((value) => value.includes("..") && !/[/\\]/.test(value));
  if (windows.length === 1) {
    throw new CliError("--from and --to must both be releases or both be time windows (START..END)", 2);
  }
  return windows.length === 2
    ? { kind: "windows", from: parseWindow(from), to: parseWindow(to) }
    : { kind: "releases", from, to };
}

/** The selection flags of `values`. */
export function selectionOf(values: { source?: string[]; outcome?: string }): CompareSelection {
  return {
    source: values.source ?? [],
    ...(values.outcome !== undefined ? { outcome: values.outcome } : {}),
  };
}

/** The filters of each side, parsed by the dashboard's own parser (bad values: a usage error). */
function sideFilters(
  sides: CompareSides,
  selection: CompareSelection,
  release: string | undefined,
): [CoverageFilters, CoverageFilters] {
  const base = { source: selection.source, ...(selection.outcome ? { outcome: selection.outcome } : {}) };
  if (sides.kind === "releases") {
    return [
      selectionFilters({ ...base, release: sides.from }),
      selectionFilters({ ...base, release: sides.to }),
    ];
  }
  const side = (window: WindowArg) =>
    selectionFilters({
      ...base,
      ...(release ? { release } : {}),
      ...(window.start ? { from: window.start } : {}),
      ...(window.end ? { to: window.end } : {}),
    });
  return [side(sides.from), side(sides.to)];
}

const windowLabel = (filters: CoverageFilters) =>
  `${filters.from?.toISOString() ?? ""}..${filters.to?.toISOString() ?? ""}`;

/**
 * Reads the selection's coverage of both sides from the database and compares it: two releases (both
 * must be stored) or two windows of `values.release` (default: the database's default release).
 */
export async function compareCoverage(
  sides: CompareSides,
  selection: CompareSelection,
  values: { release?: string; "database-url"?: string },
  io: CommandIO,
): Promise<ComparedCoverage> {
  const [fromFilters, toFilters] = sideFilters(sides, selection, values.release);
  const [before, after] = await withDatabase(values, io, (db) =>
    Promise.all([getCoverage(db.prisma, fromFilters), getCoverage(db.prisma, toFilters)]),
  ).catch((error: Error) => {
    if (error instanceof NotFoundError) {
      throw new CliError(`${error.message}: store it first with 'apisnoop spec add' or 'apisnoop import'`);
    }
    throw error;
  });
  const twoxx = fromFilters.outcome === "2xx";
  const rows = (endpoints: Row[]) =>
    endpoints.map((row) => ({ ...row, hits: twoxx ? row.hits2xx : row.hits }));
  const windows = sides.kind === "windows";
  const diff = diffCoverage(
    { label: windows ? windowLabel(fromFilters) : before.release, endpoints: rows(before.endpoints) },
    { label: windows ? windowLabel(toFilters) : after.release, endpoints: rows(after.endpoints) },
  );
  return {
    release: windows ? before.release : null,
    selection,
    diff,
    json: coverageDiffJson(diff, selection, fromFilters.outcome),
  };
}

function coverageDiffJson(diff: CoverageDiff<Row>, selection: CompareSelection, outcome: string) {
  const ids = (rows: Row[]) => rows.map((row) => row.operationId);
  return {
    selection: { source: selection.source, outcome },
    from: diff.from,
    to: diff.to,
    counts: diff.counts,
    newlyTested: ids(diff.newlyTested),
    noLongerTested: ids(diff.noLongerTested),
    testedAdded: ids(diff.testedAdded),
    testedRemoved: ids(diff.testedRemoved),
  };
}

const count = (c: CoverageCount) => `${c.tested}/${c.endpoints} (${coveragePercent(c)} %)`;

/** The coverage comparison as text: one line per level, then the endpoints whose coverage changed. */
export function formatCoverageDiffText(compared: ComparedCoverage): string {
  const { diff, selection } = compared;
  const who = selection.source.length > 0 ? selection.source.join(", ") : "all sources";
  const outcome = compared.json.selection.outcome === "2xx" ? "2xx responses" : "any response";
  const scope = compared.release ? ` of ${compared.release}` : "";
  const out = [`Coverage${scope} by ${who} (${outcome}): ${diff.from} → ${diff.to}`];
  const { from, to } = diff.counts;
  const rows: Array<[string, CoverageCount, CoverageCount]> = [
    ["all endpoints", from.all, to.all],
    ["stable", from.byLevel.stable, to.byLevel.stable],
    ["beta", from.byLevel.beta, to.byLevel.beta],
    ["alpha", from.byLevel.alpha, to.byLevel.alpha],
    ["conformance-eligible", from.conformanceEligible, to.conformanceEligible],
  ];
  for (const [name, a, b] of rows) {
    const delta = b.tested - a.tested;
    out.push(
      `  ${name.padEnd(22)} ${count(a).padEnd(20)} → ${count(b).padEnd(20)} ${delta >= 0 ? "+" : ""}${delta} tested`,
    );
  }
  const section = (title: string, list: Row[]) => {
    if (list.length === 0) return;
    out.push("", `${title} (${list.length}):`);
    for (const e of list)
      out.push(`  ${e.operationId.padEnd(64)} ${e.level.padEnd(6)} ${e.method.padEnd(6)} ${e.path}`);
  };
  section("Newly tested", diff.newlyTested);
  section("No longer tested", diff.noLongerTested);
  section(`Tested, added in ${diff.to}`, diff.testedAdded);
  section(`Tested, removed in ${diff.to}`, diff.testedRemoved);
  return `${out.join("\n")}\n`;
}
