import type { RequestMatcher } from "@apisnoop/openapi";
import { describe, expect, it } from "vitest";
import { fakeFlow } from "../testing";
import { matchOperation } from "./match-operation";

describe("matchOperation", () => {
  it("matches the flow's method and url (with its query) with the current matcher, at complete", () => {
    const seen: string[] = [];
    const matcher: RequestMatcher = {
      match(method, url) {
        seen.push(`${method} ${url}`);
        return { operationId: "listCoreV1Namespace", detail: "watch" };
      },
    };
    const addon = matchOperation(() => matcher);
    expect(addon.request).toBeUndefined(); // never on the hot path
    const flow = fakeFlow({ url: "/api/v1/namespaces?watch=true" });
    addon.complete?.(flow);
    expect(seen).toEqual(["GET /api/v1/namespaces?watch=true"]);
    expect(flow.match).toEqual({ operationId: "listCoreV1Namespace", detail: "watch" });
  });

  it("reads the matcher per flow, so a refreshed spec applies at once", () => {
    let current: RequestMatcher = { match: () => ({ operationId: "old" }) };
    const addon = matchOperation(() => current);
    const first = fakeFlow();
    addon.complete?.(first);
    current = { match: () => ({ operationId: "new" }) };
    const second = fakeFlow();
    addon.complete?.(second);
    expect([first.match?.operationId, second.match?.operationId]).toEqual(["old", "new"]);
  });

  it("leaves the flow unmatched, with a reason, before any spec is loaded", () => {
    const flow = fakeFlow();
    matchOperation(() => null).complete?.(flow);
    expect(flow.match).toEqual({ operationId: null, reason: "no spec loaded" });
  });
});
