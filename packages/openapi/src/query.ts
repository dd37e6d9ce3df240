/**
 * Query parameters Kubernetes itself defines (every query parameter of the 1.28–1.36 specs, plus the
 * generic `timeout`). Only these are kept from a request's query string (GUIDE §4): anything else a
 * client appends may carry data that is not ours to store.
 */
export const KUBERNETES_QUERY_PARAMETERS: ReadonlySet<string> = new Set([
  "allowWatchBookmarks",
  "command",
  "container",
  "continue",
  "dryRun",
  "fieldManager",
  "fieldSelector",
  "fieldValidation",
  "follow",
  "force",
  "gracePeriodSeconds",
  "ignoreStoreReadErrorWithClusterBreakingPotential",
  "insecureSkipTLSVerifyBackend",
  "labelSelector",
  "limit",
  "limitBytes",
  "orphanDependents",
  "path",
  "ports",
  "pretty",
  "previous",
  "propagationPolicy",
  "resourceVersion",
  "resourceVersionMatch",
  "sendInitialEvents",
  "sinceSeconds",
  "sinceTime",
  "stderr",
  "stdin",
  "stdout",
  "stream",
  "tailLines",
  "timeout",
  "timeoutSeconds",
  "timestamps",
  "tty",
  "watch",
]);

/**
 * Parameters whose values are the caller's data, not a choice of API behaviour: `command` of exec carries
 * whatever the user typed (`--password=x`, tokens in a `curl -H`). Only their presence is kept.
 */
export const PRESENCE_ONLY_QUERY_PARAMETERS: ReadonlySet<string> = new Set(["command"]);

/**
 * The Kubernetes parameters of a raw query string (without `?`), in their original order and encoding;
 * a presence-only parameter appears once, as its bare name, however often and with whatever values it came.
 */
export function kubernetesQuery(query: string): string {
  if (query === "") return "";
  const kept: string[] = [];
  const present = new Set<string>();
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    const name = eq === -1 ? pair : pair.slice(0, eq);
    if (!KUBERNETES_QUERY_PARAMETERS.has(name)) continue;
    if (PRESENCE_ONLY_QUERY_PARAMETERS.has(name)) {
      if (present.has(name)) continue;
      present.add(name);
      kept.push(name);
    } else {
      kept.push(pair);
    }
  }
  return kept.join("&");
}
