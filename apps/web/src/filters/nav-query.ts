import { FILTER_PARAMS } from "@apisnoop/db/filters";

/** Views whose `from` and `to` name releases rather than a time window. */
const RELEASE_PAIR_VIEWS = new Set(["/compare"]);

/**
 * The query a navigation link carries from the current view to `target`, so switching views keeps the
 * selection. `/compare` takes `from`/`to` as releases: entering it, a time window is dropped and the
 * current release stays, for /compare to compare it with its neighbour in upgrade direction; leaving it,
 * the pair is dropped. `/conformance` is about a release only.
 */
export function navQuery(target: string, current: string, query: URLSearchParams): string {
  const kept = new URLSearchParams();
  const leavingPair = RELEASE_PAIR_VIEWS.has(current) && !RELEASE_PAIR_VIEWS.has(target);
  for (const name of FILTER_PARAMS) {
    for (const value of query.getAll(name)) {
      if (value.trim() === "") continue;
      if (target === "/conformance" && name !== "release") continue;
      if (RELEASE_PAIR_VIEWS.has(target) && (name === "from" || name === "to")) continue;
      if (leavingPair && (name === "from" || name === "to")) continue;
      kept.append(name, value);
    }
  }
  if (RELEASE_PAIR_VIEWS.has(target) && RELEASE_PAIR_VIEWS.has(current)) {
    const withPair = new URLSearchParams();
    for (const name of ["from", "to"]) {
      const value = query.get(name);
      if (value) withPair.set(name, value);
    }
    for (const [name, value] of kept) withPair.append(name, value);
    return withPair.toString();
  }
  if (target === "/conformance" && leavingPair && query.get("to"))
    kept.set("release", query.get("to") as string);
  return kept.toString();
}

/** The link to an endpoint's page that keeps the view's query (`query` without its `?`; empty: none). */
export function endpointHref(operationId: string, query: string): string {
  return `/endpoints/${encodeURIComponent(operationId)}${query ? `?${query}` : ""}`;
}
