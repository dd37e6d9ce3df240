import { parseCoverageFilters } from "@apisnoop/db/filters";
import { describe, expect, it } from "vitest";
import { parseCompareParams } from "../compare/compare-params";
import { endpointHref, navQuery } from "./nav-query";

const q = (query: string) => new URLSearchParams(query);

describe("navQuery", () => {
  it("keeps the filters between coverage views", () => {
    expect(navQuery("/unknown", "/", q("release=1.34&chart=nginx&from=24h&x=1"))).toBe(
      "release=1.34&chart=nginx&from=24h",
    );
  });

  it("into /compare: the release stays, a time window is dropped, the sources stay", () => {
    const query = navQuery("/compare", "/", q("release=1.34&chart=nginx&from=24h&outcome=2xx"));
    expect(query).toBe("release=1.34&chart=nginx&outcome=2xx");
    // Compared with its neighbour in upgrade direction, whether that is newer or older.
    expect(parseCompareParams(q(query), ["1.34", "1.33"])).toMatchObject({
      ok: true,
      value: { from: "1.33", to: "1.34" },
    });
    expect(parseCompareParams(q(query), ["1.35", "1.34"])).toMatchObject({
      ok: true,
      value: { from: "1.34", to: "1.35" },
    });
  });

  it("out of /compare: the release pair is dropped, so the filters parse", () => {
    const query = navQuery("/", "/compare", q("from=1.33&to=1.34&chart=nginx"));
    expect(query).toBe("chart=nginx");
    expect(parseCoverageFilters(q(query)).ok).toBe(true);
    expect(navQuery("/compare", "/compare", q("from=1.33&to=1.34&chart=nginx"))).toBe(
      "from=1.33&to=1.34&chart=nginx",
    );
  });

  it("into /conformance: only the release", () => {
    expect(navQuery("/conformance", "/", q("release=1.34&chart=nginx"))).toBe("release=1.34");
    expect(navQuery("/conformance", "/compare", q("from=1.33&to=1.35"))).toBe("release=1.35");
  });
});

describe("endpointHref", () => {
  it("links an endpoint's page with the view's query, encoding the operation id", () => {
    expect(endpointHref("listCoreV1Node", "release=1.34&outcome=2xx")).toBe(
      "/endpoints/listCoreV1Node?release=1.34&outcome=2xx",
    );
    expect(endpointHref("a/b", "")).toBe("/endpoints/a%2Fb");
  });
});
