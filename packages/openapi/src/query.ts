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

/** The Kubernetes parameters of a raw query string (without `?`), in their original order and encoding. */
export function kubernetesQuery(query: string): string {
  if (query === "") return "";
  return query
    .split("&")
    .filter((pair) => {
      const eq = pair.indexOf("=");
      const name = eq === -1 ? pair : pair.slice(0, eq);
      return KUBERNETES_QUERY_PARAMETERS.has(name);
    })
    .join("&");
}
