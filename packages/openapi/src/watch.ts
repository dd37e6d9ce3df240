/**
 * `watch=` set to true in a query string (without its `?`), spelt any way Go's `strconv.ParseBool`
 * accepts true — the way kube-apiserver decodes it: `1`, `t`, `T`, `TRUE`, `true`, `True`. The one
 * answer to "does this request ask to watch?" for the matcher, the proxy and the importers.
 */
export function asksToWatch(query: string): boolean {
  return query !== "" && WATCH_TRUE.test(query);
}

const WATCH_TRUE = /(?:^|&)watch=(?:true|1|t|T|TRUE|True)(?:&|$)/;

/**
 * Whether a request target (path and query, as a client sends it) opens a stream of watch events, known
 * before any spec is consulted: its query asks to watch, or its path is a deprecated watch path
 * (`/api/v1/watch/…`, `/apis/GROUP/VERSION/watch/…`). The proxy's transport decides by it which answers
 * may last hours; the matcher's `watch` agrees on every target it matches, except a `?watch=true` on one
 * object's read, which coverage counts as a read though the apiserver streams it.
 */
export function requestTargetWatches(target: string): boolean {
  const q = target.indexOf("?");
  if (q !== -1 && asksToWatch(target.slice(q + 1))) return true;
  return DEPRECATED_WATCH_PATH.test(q === -1 ? target : target.slice(0, q));
}

/** The `watch` segment right after a group version: `/api/v1/watch/…` or `/apis/GROUP/VERSION/watch/…`. */
const DEPRECATED_WATCH_PATH = /^\/(?:api\/[^/?]+|apis\/[^/?]+\/[^/?]+)\/watch(?:\/|$)/;
