import type { Source } from "@apisnoop/protocol";

/**
 * A short human name for a source, most specific first: an explicit name, the e2e test, the pod (with
 * its namespace), the Helm chart, the service account, then the user agent's product token.
 */
export function sourceLabel(source: Source): string {
  if (source.name) return source.name;
  if (source.e2eTest) return `e2e: ${source.e2eTest}`;
  if (source.pod) return source.namespace ? `${source.namespace}/${source.pod}` : source.pod;
  if (source.chart) return `chart ${source.chart}`;
  if (source.serviceAccount) return `sa ${source.serviceAccount}`;
  return userAgentProduct(source.userAgent) || "(no user agent)";
}

/** `kubectl/v1.32.4 (linux/amd64) kubernetes/abc` -> `kubectl/v1.32.4`. */
export function userAgentProduct(userAgent: string): string {
  return userAgent.split(" ", 1)[0] ?? "";
}
