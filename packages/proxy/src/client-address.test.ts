import { isIP } from "node:net";
import { describe, expect, it, vi } from "vitest";
import { normaliseRemoteAddress } from "./client-address";

// The real isIP, counted: how often an address is parsed.
vi.mock("node:net", async (importOriginal) => {
  const net = await importOriginal<typeof import("node:net")>();
  return { ...net, isIP: vi.fn(net.isIP) };
});

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

  it("parses an address once for all the requests that ask again, and answers them alike", () => {
    vi.mocked(isIP).mockClear();
    for (let i = 0; i < 3; i++) {
      expect(normaliseRemoteAddress("::ffff:10.9.8.7")).toBe("10.9.8.7");
      expect(normaliseRemoteAddress("10.9.8.6")).toBe("10.9.8.6");
      expect(normaliseRemoteAddress("not an address")).toBeNull();
    }
    expect(isIP).toHaveBeenCalledTimes(3);
  });

  it("answers rightly past the bound of addresses it remembers", () => {
    for (let i = 0; i < 5000; i++) {
      const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      expect(normaliseRemoteAddress(`::ffff:${address}`)).toBe(address);
    }
    expect(normaliseRemoteAddress("::ffff:10.0.0.1")).toBe("10.0.0.1");
  });
});
