import { describe, expect, it } from "vitest";
import { compareHref, parseCompareParams } from "./compare-params";

const loaded = ["1.34", "1.36", "1.9", "1.33", "cluster"];
const q = (query: string) => new URLSearchParams(query);
const parse = (query: string) => parseCompareParams(q(query), loaded);

describe("parseCompareParams", () => {
  it("takes the two releases and leaves the selection's filters", () => {
    const parsed = parse("from=1.33&to=1.34&chart=nginx&outcome=2xx");
    expect(parsed.ok && parsed.value.kind).toBe("releases");
    expect(parsed.ok && parsed.value.from).toBe("1.33");
    expect(parsed.ok && parsed.value.to).toBe("1.34");
    expect(parsed.ok && parsed.value.filters.toString()).toBe("chart=nginx&outcome=2xx");
  });

  it("defaults to the nearest loaded releases in upgrade direction", () => {
    // The default release (the cluster's) → the next newer one loaded.
    expect(parse("")).toMatchObject({ ok: true, value: { from: "1.34", to: "1.36" } });
    // The newest: the one before it → it.
    const newest = ["1.36", "1.34", "1.35"];
    expect(parseCompareParams(q(""), newest)).toMatchObject({
      ok: true,
      value: { from: "1.35", to: "1.36" },
    });
    expect(parse("release=1.36")).toMatchObject({ ok: true, value: { from: "1.34", to: "1.36" } });
    expect(parse("release=1.33&chart=x")).toMatchObject({
      ok: true,
      value: { from: "1.33", to: "1.34", filters: q("chart=x") },
    });
    expect(parse("to=1.36")).toMatchObject({ ok: true, value: { from: "1.34", to: "1.36" } });
    expect(parse("to=1.33")).toMatchObject({ ok: true, value: { from: "1.9" } });
    expect(parse("from=1.33")).toMatchObject({ ok: true, value: { from: "1.33", to: "1.34" } });
  });

  it("names the parameter that is wrong", () => {
    expect(parse("from=24h&from=1h")).toEqual({ ok: false, error: "invalid parameter from: given 2 times" });
    expect(parse("to=1.34;drop")).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^invalid parameter to:/),
    });
    expect(parse("release=1.34&to=1.36")).toMatchObject({
      ok: false,
      error: expect.stringContaining("from and to"),
    });
    expect(parse("release=1.20")).toMatchObject({ ok: false, error: expect.stringContaining("not loaded") });
    expect(parse("from=1.36")).toMatchObject({
      ok: false,
      error: expect.stringContaining("newer than 1.36"),
    });
    expect(parseCompareParams(q(""), ["1.36"])).toMatchObject({
      ok: false,
      error: expect.stringContaining("only 1.36 is loaded"),
    });
    expect(parse("from=1.34&to=1.34")).toMatchObject({
      ok: false,
      error: expect.stringContaining("both 1.34"),
    });
    expect(parse("to=1.9")).toMatchObject({ ok: false, error: expect.stringContaining("older than 1.9") });
    expect(parseCompareParams(new URLSearchParams(""), [])).toMatchObject({ ok: false });
  });

  it("takes two selections of one release (two runs), each side with its own filter", () => {
    const parsed = parse("from=run:main-1&to=run:pr-2&release=1.34&cluster=ci");
    if (!parsed.ok || parsed.value.kind !== "selections") throw new Error(JSON.stringify(parsed));
    expect(parsed.value.from).toEqual({
      text: "run:main-1",
      filters: q("release=1.34&cluster=ci&run=main-1"),
    });
    expect(parsed.value.to).toEqual({ text: "run:pr-2", filters: q("release=1.34&cluster=ci&run=pr-2") });
    expect(parsed.value.filters.toString()).toBe("release=1.34&cluster=ci");
    // A value may hold colons; "cluster" is also a loaded release's name, but cluster:x is a selection.
    expect(parse("from=cluster:a:b&to=cluster:c")).toMatchObject({ ok: true, value: { kind: "selections" } });
    expect(parse("from=run:a&to=1.34")).toMatchObject({
      ok: false,
      error: expect.stringContaining("both selections FIELD:VALUE"),
    });
    expect(parse("from=color:a&to=color:b")).toMatchObject({ ok: false });
    expect(parse("from=run:a&to=run:b&run=c")).toEqual({
      ok: false,
      error: "invalid parameter run: from and to name the run of each side",
    });
  });

  it("takes two time windows of one release, each side with its own from and to", () => {
    const parsed = parse("from=7d..1d&to=1d..&release=1.34&chart=nginx");
    if (!parsed.ok || parsed.value.kind !== "windows") throw new Error(JSON.stringify(parsed));
    expect(parsed.value.from.text).toBe("7d..1d");
    expect(parsed.value.from.filters.toString()).toBe("release=1.34&chart=nginx&from=7d&to=1d");
    expect(parsed.value.to.filters.toString()).toBe("release=1.34&chart=nginx&from=1d");
    expect(parsed.value.filters.toString()).toBe("release=1.34&chart=nginx");
  });

  it("refuses a release compared with a window", () => {
    expect(parse("from=1.33&to=1d..now")).toMatchObject({
      ok: false,
      error: expect.stringContaining("both releases (1.33, 1.34) or both time windows"),
    });
  });

  it("builds links that parse back to the same comparison", () => {
    const href = compareHref("1.33", "1.36", "namespace=ops");
    expect(href).toBe("/compare?from=1.33&to=1.36&namespace=ops");
    const back = parse(href.split("?")[1] as string);
    expect(back).toMatchObject({ ok: true, value: { from: "1.33", to: "1.36" } });
  });
});
