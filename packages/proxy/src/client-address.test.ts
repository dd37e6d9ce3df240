import { describe, expect, it } from "vitest";
import { normaliseRemoteAddress } from "./client-address";

describe("normaliseRemoteAddress", () => {
  it("writes addresses the way pod status does", () => {
    expect(normaliseRemoteAddress("10.0.0.5")).toBe("10.0.0.5");
    // What a dual-stack (`::`) listener reports for an IPv4 client, in both spellings.
    expect(normaliseRemoteAddress("::ffff:10.0.0.5")).toBe("10.0.0.5");
    expect(normaliseRemoteAddress("::FFFF:10.0.0.5")).toBe("10.0.0.5");
    expect(normaliseRemoteAddress("::ffff:a00:5")).toBe("10.0.0.5");
    expect(normaliseRemoteAddress("2001:DB8:0:0:0:0:0:1")).toBe("2001:db8::1");
    expect(normaliseRemoteAddress("[fd00::a]")).toBe("fd00::a");
    expect(normaliseRemoteAddress("fe80::1%eth0")).toBe("fe80::1");
    expect(normaliseRemoteAddress("::1")).toBe("::1");
  });

  it("is null for what is not an IP address", () => {
    for (const value of [undefined, null, "", "localhost", "10.0.0.256", "::ffff:", "1.2.3"]) {
      expect(normaliseRemoteAddress(value)).toBeNull();
    }
  });
});
