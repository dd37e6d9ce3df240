import { sourceFromUserAgent } from "@apisnoop/protocol";
import { describe, expect, it } from "vitest";
import { sourceLabel, userAgentProduct } from "./source-label";

describe("sourceLabel", () => {
  it("prefers the most specific identity", () => {
    const kubectl = sourceFromUserAgent("kubectl/v1.32.4 (linux/amd64) kubernetes/abc");
    expect(sourceLabel(kubectl)).toBe("kubectl/v1.32.4");
    expect(sourceLabel({ ...kubectl, chart: "nginx-1.2.3" })).toBe("chart nginx-1.2.3");
    expect(sourceLabel({ ...kubectl, chart: "nginx-1.2.3", pod: "web-0", namespace: "apps" })).toBe(
      "apps/web-0",
    );
    expect(sourceLabel({ ...kubectl, name: "my-operator", pod: "web-0" })).toBe("my-operator");
    expect(sourceLabel(sourceFromUserAgent("e2e.test/v1.34 -- [sig-apps] Deployment should scale"))).toBe(
      "e2e: [sig-apps] Deployment should scale",
    );
    expect(sourceLabel(sourceFromUserAgent(""))).toBe("(no user agent)");
  });

  it("cuts the user agent to its product token", () => {
    expect(userAgentProduct("Go-http-client/2.0")).toBe("Go-http-client/2.0");
  });
});
