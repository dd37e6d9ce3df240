import type { Endpoint } from "@apisnoop/openapi";
import type { Addon } from "../addon-chain";
import { asksToWatch, type Flow } from "../flow";

const PROTOBUF = "application/vnd.kubernetes.protobuf";

const PATCH_TYPES: Record<string, string> = {
  "application/json-patch+json": "json",
  "application/merge-patch+json": "merge",
  "application/strategic-merge-patch+json": "strategic",
  "application/apply-patch+yaml": "apply",
  "application/apply-patch+cbor": "apply",
};

/**
 * The facts about a call that coverage distinguishes (issue 5 §2): watch vs list, dryRun, patch type,
 * subresource, and why fields were not analysed. Pure; `endpoint` is the matched operation, if any.
 */
export function outcomeDetails(flow: Flow, endpoint: Endpoint | null): string[] {
  const details: string[] = [];
  const detail = flow.match?.detail;
  if (detail) details.push(detail);
  const { url, method, contentType } = flow.request;
  if (!detail && asksToWatch(url)) details.push("watch");
  if (/[?&]dryRun=/.test(url)) details.push("dryRun");
  if (method === "PATCH" && contentType) {
    const type = PATCH_TYPES[mediaType(contentType)];
    details.push(`patch:${type ?? "unknown"}`);
  }
  const subresource = endpoint ? subresourceOf(endpoint.path) : null;
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
export function describeOutcome(endpointOf: (operationId: string) => Endpoint | null): Addon {
  return {
    name: "describe-outcome",
    complete(flow) {
      const operationId = flow.match?.operationId;
      flow.details = outcomeDetails(flow, operationId ? endpointOf(operationId) : null);
    },
  };
}
