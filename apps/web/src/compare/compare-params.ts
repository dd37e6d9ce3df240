import {
  compareReleaseNames,
  isVersionedName,
  isWellFormedReleaseName,
} from "@apisnoop/openapi/release-name";

import { SOURCE_FILTERS } from "../filters/dashboard-filters";

/**
 * What `/compare` compares: two releases, and the query of the selection's filters without them; or two
 * time windows, or two selections (`run:A`, `cluster:B`), of one release, as the filter queries of each side.
 */
export type CompareParams =
  | {
      kind: "releases";
      from: string;
      to: string;
      /** The URL's other parameters (source filters, outcome, level), for the filter parser and links. */
      filters: URLSearchParams;
    }
  | {
      kind: "windows";
      /** The earlier window as written (`START..END`) and the filter query of that side. */
      from: { text: string; filters: URLSearchParams };
      to: { text: string; filters: URLSearchParams };
      /** The URL's parameters without the windows, for links. */
      filters: URLSearchParams;
    }
  | {
      kind: "selections";
      /** The earlier selection as written (`run:A`) and the filter query of that side. */
      from: { text: string; filters: URLSearchParams };
      to: { text: string; filters: URLSearchParams };
      /** The URL's parameters without the selections, for links. */
      filters: URLSearchParams;
    };

/** `FIELD:VALUE` with a source filter's name (`run:pr-42`): one side's selection; else null. */
export function parseSelectionSide(value: string): { field: string; value: string } | null {
  const found = /^([A-Za-z0-9]+):(.+)$/.exec(value.trim());
  if (!found?.[1] || !found[2] || !(SOURCE_FILTERS as readonly string[]).includes(found[1])) return null;
  return { field: found[1], value: found[2] };
}

/** `START..END` with times (a duration, ISO date-time, epoch ms, now; either may be empty). */
export function isTimeWindow(value: string): boolean {
  return value.includes("..") && !/[/\\]/.test(value);
}

/**
 * What a `/compare` URL compares. There `from` and `to` name releases (a release comparison counts
 * all-time hits), and `release` is refused because they say it. Missing ones are the nearest loaded
 * releases in the direction of an upgrade: without either, `release` or else the default release (the
 * first of `releases`: the cluster's) → the next newer one loaded, else the one before it → that one;
 * with only `to`, the release before it; with only `from`, the one after it. Or both are time windows
 * `START..END` (as `apisnoop compare` takes them), compared within `release`. A bad or missing value is
 * an error naming the parameter, as the filters' errors do. Never throws.
 */
export function parseCompareParams(
  params: URLSearchParams,
  releases: readonly string[],
): { ok: true; value: CompareParams } | { ok: false; error: string } {
  const one = (name: "from" | "to" | "release") => {
    const values = params.getAll(name).filter((value) => value.trim() !== "");
    if (values.length > 1) return { error: `invalid parameter ${name}: given ${values.length} times` };
    const value = values[0]?.trim();
    if (value !== undefined && !isWellFormedReleaseName(value))
      return { error: `invalid parameter ${name}: a release is a name like "1.34"` };
    return { value };
  };
  const selections = ["from", "to"].map((name) =>
    params.getAll(name).filter((value) => parseSelectionSide(value) !== null),
  );
  if (selections.some((list) => list.length > 0)) return parseSelections(params);
  const windows = ["from", "to"].map((name) => params.getAll(name).filter(isTimeWindow));
  if (windows.some((list) => list.length > 0)) return parseWindows(params);
  const from = one("from");
  const to = one("to");
  const base = one("release");
  if (from.error !== undefined) return { ok: false, error: from.error };
  if (to.error !== undefined) return { ok: false, error: to.error };
  if (base.error !== undefined) return { ok: false, error: base.error };
  if (base.value !== undefined && (from.value !== undefined || to.value !== undefined)) {
    return { ok: false, error: "invalid parameter release: /compare takes the two releases as from and to" };
  }
  if (base.value !== undefined && !releases.includes(base.value)) {
    return { ok: false, error: `invalid parameter release: ${base.value} is not loaded` };
  }
  const pair = releasePair(from.value, to.value, base.value ? [base.value, ...releases] : releases);
  if ("error" in pair) return { ok: false, error: pair.error };
  const [earlier, later] = pair.releases;
  if (earlier === later) return { ok: false, error: `invalid parameters: from and to are both ${later}` };
  const filters = new URLSearchParams(params);
  for (const name of ["from", "to", "release"]) filters.delete(name);
  return { ok: true, value: { kind: "releases", from: earlier, to: later, filters } };
}

/** The two releases to compare: those given, the missing ones the nearest in upgrade direction. */
function releasePair(
  from: string | undefined,
  to: string | undefined,
  releases: readonly string[],
): { releases: [string, string] } | { error: string } {
  // Only numbered releases have neighbours; a cluster's unnumbered release is compared with the newest.
  const sorted = releases.filter((name) => isVersionedName(name)).sort(compareReleaseNames);
  const numbered = (name: string) => isVersionedName(name) || undefined;
  const before = (name: string) =>
    numbered(name) ? sorted.filter((r) => compareReleaseNames(r, name) < 0).at(-1) : sorted.at(-1);
  const after = (name: string) => numbered(name) && sorted.find((r) => compareReleaseNames(r, name) > 0);
  if (from !== undefined && to !== undefined) return { releases: [from, to] };
  if (to !== undefined) {
    const earlier = before(to);
    if (earlier === undefined)
      return { error: `invalid parameter from: no loaded release is older than ${to}` };
    return { releases: [earlier, to] };
  }
  if (from !== undefined) {
    const later = after(from);
    if (later === undefined)
      return { error: `invalid parameter to: no loaded release is newer than ${from}` };
    return { releases: [from, later] };
  }
  const base = releases[0];
  if (base === undefined) return { error: "no release is loaded" };
  const newer = after(base);
  if (newer !== undefined) return { releases: [base, newer] };
  const older = before(base);
  if (older !== undefined) return { releases: [older, base] };
  return { error: `only ${base} is loaded: there is no other release to compare it with` };
}

function parseWindows(
  params: URLSearchParams,
): { ok: true; value: CompareParams } | { ok: false; error: string } {
  const filters = new URLSearchParams(params);
  for (const name of ["from", "to"]) filters.delete(name);
  const side = (name: "from" | "to") => {
    const values = params.getAll(name).filter((value) => value.trim() !== "");
    const text = values[0]?.trim();
    if (values.length !== 1 || text === undefined || !isTimeWindow(text)) return null;
    const [start = "", end = ""] = text.split("..", 2).map((part) => part.trim());
    const query = new URLSearchParams(filters);
    if (start) query.set("from", start);
    if (end) query.set("to", end);
    return { text, filters: query };
  };
  const from = side("from");
  const to = side("to");
  if (!from || !to) {
    return {
      ok: false,
      error:
        "invalid parameters from, to: both releases (1.33, 1.34) or both time windows (START..END, e.g. 7d..1d)",
    };
  }
  return { ok: true, value: { kind: "windows", from, to, filters } };
}

/**
 * Two selections of one release (`from=run:A&to=run:B`): each side's filter query is the URL's filters and
 * its own `FIELD=VALUE`; a filter of the same name in the URL is refused, as it would say two things.
 */
function parseSelections(
  params: URLSearchParams,
): { ok: true; value: CompareParams } | { ok: false; error: string } {
  const filters = new URLSearchParams(params);
  for (const name of ["from", "to"]) filters.delete(name);
  const side = (name: "from" | "to") => {
    const values = params.getAll(name).filter((value) => value.trim() !== "");
    const text = values[0]?.trim();
    const selection = values.length === 1 && text !== undefined ? parseSelectionSide(text) : null;
    if (!selection || text === undefined) return null;
    const query = new URLSearchParams(filters);
    query.set(selection.field, selection.value);
    return { text, field: selection.field, filters: query };
  };
  const from = side("from");
  const to = side("to");
  if (!from || !to) {
    return {
      ok: false,
      error: `invalid parameters from, to: both selections FIELD:VALUE (run:A, run:B; FIELD one of ${SOURCE_FILTERS.join(", ")})`,
    };
  }
  for (const { field } of [from, to]) {
    if (filters.has(field)) {
      return { ok: false, error: `invalid parameter ${field}: from and to name the ${field} of each side` };
    }
  }
  return {
    ok: true,
    value: {
      kind: "selections",
      from: { text: from.text, filters: from.filters },
      to: { text: to.text, filters: to.filters },
      filters,
    },
  };
}

/** The `/compare` URL of two releases and a selection's filter query. */
export function compareHref(from: string, to: string, filters: URLSearchParams | string): string {
  const query = new URLSearchParams({ from, to });
  for (const [name, value] of new URLSearchParams(filters)) query.append(name, value);
  return `/compare?${query}`;
}
