import { createFlow, type Flow, type FlowRequest } from "./flow";

/** A flow as the proxy would hand it to addons, for unit tests without sockets. */
export function fakeFlow(request: Partial<FlowRequest> = {}, rest: Partial<Flow> = {}): Flow {
  return {
    ...createFlow(
      "reverse",
      { method: "GET", url: "/api/v1/namespaces", userAgent: "kubectl/v1.34.0", upgrade: false, ...request },
      Date.parse("2026-01-02T03:04:05.678Z"),
    ),
    ...rest,
  };
}
