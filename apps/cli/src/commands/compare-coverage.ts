import {
  type CoverageCount,
  type CoverageDiff,
  callerLabel,
  coveragePercent,
  diffCoverage,
  markdownCell,
} from "@apisnoop/coverage";
import {
  type CoverageFilters,
  type EndpointCoverage,
  getCoverage,
  getUsage,
  NotFoundError,
  SOURCE_FILTERS,
} from "@apisnoop/db";
import { CliError } from "../cli-error";
import type { CommandIO } from "../command";
import { withDatabase } from "../database-option";
import { selectionFilters } from "../selection-option";

/** A time window as given: `START..END`, either end may be empty. */
export interface WindowArg {
  start?: string;
  end?: string;
}

/** A selection as given: one source filter, `run=A` (or `run:A`, as `/compare` URLs write it). */
export interface SelectionArg {
  field: string;
  value: string;
}

/**
 * What `--from` and `--to` name: two releases, two time windows of one release, or two selections of one
 * release (two CI runs, two clusters).
 */
export type CompareSides =
  | { kind: "releases"; from: string; to: string }
  | { kind: "windows"; from: WindowArg; to: WindowArg }
  | { kind: "selections"; from: SelectionArg; to: SelectionArg };

/** Which hits the coverage comparison counts: the `--source` and `--outcome` flags. */
export interface CompareSelection {
  source: string[];
  outcome?: string;
}

/**
 * One endpoint's coverage in the CLI's comparison; in a comparison of selections, the tests or sources
 * that hit it on the side where it was hit.
 */
type Row = EndpointCoverage & { callers?: string[] };

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

/** `run=A` or `run:A` with a source filter's name: a selection; anything else: null. */
function parseSelection(value: string): SelectionArg | null {
  const found = /^([A-Za-z0-9]+)[=:](.+)$/.exec(value);
  if (!found?.[1] || !found[2] || !(SOURCE_FILTERS as readonly string[]).includes(found[1])) return null;
  return { field: found[1], value: found[2] };
}

/**
 * `--from` and `--to` as two releases (or spec files), two time windows `START..END`, or two selections
 * `FIELD=VALUE` (`run=A`); two of different kinds are a usage error.
 */
export function parseCompareSides(from: string, to: string): CompareSides {
  const selections = [parseSelection(from), parseSelection(to)];
  const [fromSelection, toSelection] = selections;
  if (fromSelection && toSelection) return { kind: "selections", from: fromSelection, to: toSelection };
  if (fromSelection || toSelection) {
    throw new CliError(
      `--from and --to must both be selections (FIELD=VALUE, FIELD one of ${SOURCE_FILTERS.join(", ")})`,
      2,
    );
  }
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
  if (sides.kind === "selections") {
    const side = ({ field, value }: SelectionArg) => {
      if (selection.source.some((pair) => pair.split("=", 1)[0] === field)) {
        throw new CliError(`--source ${field}=… and --from/--to ${field}=… name the same filter`, 2);
      }
      return selectionFilters({
        ...base,
        source: [...selection.source, `${field}=${value}`],
        ...(release ? { release } : {}),
      });
    };
    return [side(sides.from), side(sides.to)];
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

/** How many tests or sources a compared endpoint names. */
const MAX_CALLERS = 5;

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
  const selections = sides.kind === "selections";
  const [before, after, callers] = await withDatabase(values, io, async (db) => {
    const sidesCoverage = await Promise.all([
      getCoverage(db.prisma, fromFilters),
      getCoverage(db.prisma, toFilters),
    ]);
    // Who hit what, for a comparison of selections (runs): the tests or sources responsible. Read in
    // the release the coverage resolved to, so both agree.
    const usage = selections
      ? await Promise.all(
          [fromFilters, toFilters].map((filters, i) =>
            getUsage(db.prisma, { ...filters, release: sidesCoverage[i]?.release }, MAX_CALLERS),
          ),
        )
      : null;
    return [...sidesCoverage, usage] as const;
  }).catch((error: Error) => {
    if (error instanceof NotFoundError) {
      throw new CliError(`${error.message}: store it first with 'apisnoop spec add' or 'apisnoop import'`);
    }
    throw error;
  });
  const twoxx = fromFilters.outcome === "2xx";
  const rows = (endpoints: Row[], side: number) => {
    const who = new Map(
      (callers?.[side]?.operations ?? []).map((operation) => [
        operation.operationId,
        operation.callers.map(callerLabel),
      ]),
    );
    return endpoints.map((row) => ({
      ...row,
      hits: twoxx ? row.hits2xx : row.hits,
      ...(who.has(row.operationId) ? { callers: who.get(row.operationId) } : {}),
    }));
  };
  const label = (filters: CoverageFilters, release: string, side: SelectionArg | null) =>
    side ? `${side.field}=${side.value}` : sides.kind === "windows" ? windowLabel(filters) : release;
  const diff = diffCoverage(
    {
      label: label(fromFilters, before.release, selections ? sides.from : null),
      endpoints: rows(before.endpoints, 0),
    },
    {
      label: label(toFilters, after.release, selections ? sides.to : null),
      endpoints: rows(after.endpoints, 1),
    },
  );
  return {
    release: sides.kind === "releases" ? null : before.release,
    selection,
    diff,
    json: coverageDiffJson(diff, selection, fromFilters.outcome),
  };
}

function coverageDiffJson(diff: CoverageDiff<Row>, selection: CompareSelection, outcome: string) {
  const ids = (rows: Row[]) => rows.map((row) => row.operationId);
  /** The lists with each endpoint's level, eligibility and callers: what a gate or a bot reads. */
  const detail = (rows: Row[]) =>
    rows.map(({ operationId, level, conformanceEligible, hits, callers }) => ({
      operationId,
      level,
      conformanceEligible,
      hits,
      ...(callers ? { callers } : {}),
    }));
  return {
    selection: { source: selection.source, outcome },
    from: diff.from,
    to: diff.to,
    counts: diff.counts,
    newlyTested: ids(diff.newlyTested),
    noLongerTested: ids(diff.noLongerTested),
    testedAdded: ids(diff.testedAdded),
    testedRemoved: ids(diff.testedRemoved),
    newlyTestedDetail: detail(diff.newlyTested),
    noLongerTestedDetail: detail(diff.noLongerTested),
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
    for (const e of list) {
      out.push(
        `  ${e.operationId.padEnd(64)} ${e.level.padEnd(6)} ${e.method.padEnd(6)} ${e.path}${e.conformanceEligible ? "  [eligible]" : ""}`,
      );
      if (e.callers?.length) out.push(`    by ${e.callers.join(", ")}`);
    }
  };
  section("Newly tested", diff.newlyTested);
  section("No longer tested", diff.noLongerTested);
  section(`Tested, added in ${diff.to}`, diff.testedAdded);
  section(`Tested, removed in ${diff.to}`, diff.testedRemoved);
  return `${out.join("\n")}\n`;
}

/** The comparison as Markdown, for a pull-request comment: the counts table, then each changed list. */
export function formatCoverageDiffMarkdown(compared: ComparedCoverage): string {
  const { diff, selection } = compared;
  const who = selection.source.length > 0 ? selection.source.join(", ") : "all sources";
  const scope = compared.release ? ` of ${compared.release}` : "";
  const { from, to } = diff.counts;
  const out = [
    `### apisnoop: coverage${scope}, ${markdownCell(diff.from)} → ${markdownCell(diff.to)}`,
    "",
    `Selection: ${markdownCell(who)} (${compared.json.selection.outcome === "2xx" ? "2xx responses" : "any response"})`,
    "",
    `| | ${markdownCell(diff.from)} | ${markdownCell(diff.to)} | change |`,
    "|---|---:|---:|---:|",
  ];
  const rows: Array<[string, CoverageCount, CoverageCount]> = [
    ["all endpoints", from.all, to.all],
    ["stable", from.byLevel.stable, to.byLevel.stable],
    ["beta", from.byLevel.beta, to.byLevel.beta],
    ["alpha", from.byLevel.alpha, to.byLevel.alpha],
    ["**conformance-eligible**", from.conformanceEligible, to.conformanceEligible],
  ];
  for (const [name, a, b] of rows) {
    const delta = b.tested - a.tested;
    out.push(`| ${name} | ${count(a)} | ${count(b)} | ${delta >= 0 ? "+" : ""}${delta} |`);
  }
  const section = (title: string, list: Row[]) => {
    if (list.length === 0) return;
    out.push(
      "",
      `<details${list.length <= 20 ? " open" : ""}><summary>${title} (${list.length})</summary>`,
      "",
      "| endpoint | level | eligible | tests or sources |",
      "|---|---|---|---|",
    );
    for (const e of list) {
      out.push(
        `| \`${e.operationId}\` | ${e.level} | ${e.conformanceEligible ? "yes" : ""} | ${markdownCell((e.callers ?? []).join(", "))} |`,
      );
    }
    out.push("", "</details>");
  };
  section("Newly hit", diff.newlyTested);
  section("No longer hit", diff.noLongerTested);
  section(`Hit, added in ${diff.to}`, diff.testedAdded);
  section(`Hit, removed in ${diff.to}`, diff.testedRemoved);
  return `${out.join("\n")}\n`;
}
