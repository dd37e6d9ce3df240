import type { Addon } from "../addon-chain";
import type { Flow } from "../flow";

const PROTOBUF = "application/vnd.kubernetes.protobuf";

const PATCH_TYPES: Record<string, string> = {
  "application/json-patch+json": "json",
  "application/merge-patch+json": "merge",
  "application/strategic-merge-patch+json": "strategic",
  "application/apply-patch+yaml": "apply",
  "application/apply-patch+cbor": "apply",
};

/**
 * The facts about a call that coverage tells apart — a watch from a list, dryRun, the patch type, the
 * subresource — and why fields were not analysed. Pure: read from the flow's match and its bodies.
 */
export function outcomeDetails(flow: Flow): string[] {
  const details: string[] = [];
  const match = flow.match;
  if (match?.detail) details.push(match.detail);
  else if (match?.watch) details.push("watch");
  const { url, method, contentType } = flow.request;
  if (/[?&]dryRun=/.test(url)) details.push("dryRun");
  if (method === "PATCH" && contentType) {
    const type = PATCH_TYPES[mediaType(contentType)];
    details.push(`patch:${type ?? "unknown"}`);
  }
  const subresource = match?.endpoint ? subresourceOf(match.endpoint.path) : null;
  if (subresource) details.push(`subresource:${subresource}`);
  const responseType = flow.response?.contentType ?? null;
  if (contentType?.startsWith(PROTOBUF) || responseType?.startsWith(PROTOBUF)) {
    details.push("fields not analysed: protobuf");
  }
  for (const body of [flow.request.body, flow.response?.body]) {
    if (body?.skipped) details.push(`fields not analysed: ${body.skipped}`);
  }
  return details;
}

/** `status` of `.../pods/{name}/status`, `proxy` of `.../{name}/proxy/{path}`; null for a resource itself. */
export function subresourceOf(pathTemplate: string): string | null {
  const found = /\/\{name\}\/([^/{}]+)/.exec(pathTemplate);
  return found ? (found[1] as string) : null;
}

/** The media type of a Content-Type, without parameters, lower case. */
export function mediaType(contentType: string): string {
  const semicolon = contentType.indexOf(";");
  return (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
}

/** Sets each flow's outcome details at `complete`, after matching, so the counted hit carries them. */
export function describeOutcome(): Addon {
  return {
    name: "describe-outcome",
    complete(flow) {
      flow.details = outcomeDetails(flow);
    },
  };
}
