import { describe, expect, it } from "vitest";
import { imageCacheDir } from "./env";

describe("imageCacheDir", () => {
  it("takes APISNOOP_IMAGE_CACHE, else XDG_CACHE_HOME's apisnoop/images, else the home's", () => {
    expect(imageCacheDir({ APISNOOP_IMAGE_CACHE: "/c", XDG_CACHE_HOME: "/x" }, "/h")).toBe("/c");
    expect(imageCacheDir({ XDG_CACHE_HOME: "/x" }, "/h")).toBe("/x/apisnoop/images");
    expect(imageCacheDir({}, "/h")).toBe("/h/.cache/apisnoop/images");
  });

  it("treats an empty variable as unset", () => {
    expect(imageCacheDir({ APISNOOP_IMAGE_CACHE: "", XDG_CACHE_HOME: "" }, "/h")).toBe(
      "/h/.cache/apisnoop/images",
    );
  });
});
