import { describe, expect, it } from "vitest";
import { compareReleaseNames, isReleaseName, isVersionedName, isWellFormedReleaseName } from "./release-name";

describe("compareReleaseNames", () => {
  it("orders versions numerically, then other names by text", () => {
    const names = ["cluster", "1.10", "abc", "1.9", "1.34.1", "1.34", "1.2.3.4"];
    expect([...names].sort(compareReleaseNames)).toEqual([
      "1.2.3.4",
      "1.9",
      "1.10",
      "1.34",
      "1.34.1",
      "abc",
      "cluster",
    ]);
    expect(compareReleaseNames("1.34", "1.34.0")).toBe(0);
  });

  it("takes only dotted numbers for versions", () => {
    expect(["1", "1.34", "1.34.2"].every(isVersionedName)).toBe(true);
    expect(["v1.34", "1.34-rc.0", "1.", ".1", ""].some(isVersionedName)).toBe(false);
  });
});

describe("isReleaseName", () => {
  // A cluster may call its release anything; only 1.NN has published data.
  it("takes only a published release, 1.NN", () => {
    expect(["1.28", "1.36", "1.9"].every(isReleaseName)).toBe(true);
    expect(["v1.34", "1.34.0", "1.", "2.0", "1.345", "unknown", ""].some(isReleaseName)).toBe(false);
  });
});

describe("isWellFormedReleaseName", () => {
  it("takes a version or a cluster's own name, up to 32 characters", () => {
    expect(["1.34", "1.34.2", "cluster", "v1.34.0+k3s1", "a".repeat(32)].every(isWellFormedReleaseName)).toBe(
      true,
    );
  });

  it("refuses an empty, overlong, or punctuated name", () => {
    expect(
      ["", "a".repeat(33), ".1", "-x", "1.34 ", "1/34", "1.34\n", "ä"].some(isWellFormedReleaseName),
    ).toBe(false);
  });
});
