import { describe, expect, it } from "vitest";
import { normaliseRelease, releaseSources } from "./release-specs";
import { SHARED_K8S, sharedSpecPath } from "./testing";

describe("releaseSources", () => {
  it("prefers the reference folder and falls back to the public URLs", () => {
    expect(releaseSources("1.34", SHARED_K8S).spec).toBe(sharedSpecPath("1.34"));
    expect(releaseSources("v1.36.0", SHARED_K8S).apisnoopCoverage).toMatch(/apisnoop\/1\.36\.0\.json\.gz$/);
    expect(releaseSources("1.20", SHARED_K8S)).toEqual({
      spec: "https://raw.githubusercontent.com/kubernetes/kubernetes/v1.20.0/api/openapi-spec/swagger.json",
      apisnoopCoverage:
        "https://raw.githubusercontent.com/kubernetes-sigs/apisnoop/main/resources/coverage/1.20.0.json",
    });
    expect(releaseSources("1.34", "").spec).toMatch(/^https:/);
  });

  it("rejects what is not a release", () => {
    expect(normaliseRelease("1.34.0")).toBe("1.34");
    expect(() => normaliseRelease("latest")).toThrow(
      "not a Kubernetes release: 'latest' (expected e.g. 1.34)",
    );
  });
});
