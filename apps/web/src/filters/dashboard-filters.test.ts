import { describe, expect, it } from "vitest";
import { filterQuery } from "./dashboard-filters";

describe("filterQuery", () => {
  it("keeps the filter parameters as written, in a fixed order", () => {
    expect(filterQuery(new URLSearchParams("level=beta&from=1h&metric=stable&chart=&release=1.34"))).toBe(
      "release=1.34&from=1h&level=beta",
    );
    expect(filterQuery(new URLSearchParams(""))).toBe("");
  });
});
