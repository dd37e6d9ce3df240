/**
 * `watch=` set to true in a query string (without its `?`), spelt any way Go's `strconv.ParseBool`
 * accepts true — the way kube-apiserver decodes it: `1`, `t`, `T`, `TRUE`, `true`, `True`. The one
 * answer to "does this request ask to watch?" for the matcher, the proxy and the importers.
 */
export function asksToWatch(query: string): boolean {
  return query !== "" && WATCH_TRUE.test(query);
}

const WATCH_TRUE = /(?:^|&)watch=(?:true|1|t|T|TRUE|True)(?:&|$)/;
