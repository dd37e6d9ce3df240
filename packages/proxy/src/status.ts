/**
 * A Kubernetes `Status` failure body, what clients expect from anything that speaks for an apiserver:
 * kubectl prints `Error from server (<reason>): <message>` instead of failing to decode.
 */
export function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  });
}
