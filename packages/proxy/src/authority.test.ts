import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalHost, formatAuthority, parseAuthority } from "./authority";

const RUNS = { numRuns: 5000 };
const validPort = fc.integer({ min: 1, max: 65535 });
const host = fc.oneof(
  fc.domain(),
  fc.ipV4(),
  fc.ipV6().map((v6) => `[${v6}]`),
);

describe("parseAuthority", () => {
  it.each([
    ["kubernetes.default.svc:443", { host: "kubernetes.default.svc", port: 443 }],
    ["Kubernetes.Default.SVC.:443", { host: "kubernetes.default.svc", port: 443 }],
    ["127.0.0.1:6443", { host: "127.0.0.1", port: 6443 }],
    ["127.1:80", { host: "127.0.0.1", port: 80 }],
    ["0x7f.0.0.1:80", { host: "127.0.0.1", port: 80 }],
    ["[::1]:443", { host: "::1", port: 443 }],
    ["[0:0:0:0:0:0:0:1]:443", { host: "::1", port: 443 }],
    ["[::ffff:127.0.0.1]:1", { host: "::ffff:7f00:1", port: 1 }],
    ["a_b.example:65535", { host: "a_b.example", port: 65535 }],
  ])("reads %s", (target, expected) => {
    expect(parseAuthority(target)).toEqual(expected);
  });

  it.each([
    "",
    "x",
    "x:",
    ":443",
    "x:abc",
    "x:70000",
    "x:65536",
    "x:0",
    "x:-1",
    "x:+443",
    "x: 443",
    "x:443 ",
    "x:1e3",
    "x:0x1bb",
    "x:4430000000000000000000",
    "::1:443",
    "[::1]",
    "[::1:443",
    "::1]:443",
    "[fe80::1%eth0]:443",
    "[fe80::1%25eth0]:443",
    "[v1.fe]:443",
    "[127.0.0.1]:443",
    "user@host:443",
    "host/path:443",
    "host?q:443",
    "host#f:443",
    "ho st:443",
    "ho%73t:443",
    "host..example:443",
    ".host:443",
    "host\u0000:443",
    "héllo.example:443",
    "999.0.0.1:443",
    "1.2.3.4.5:443",
    `${"a".repeat(64)}.example:443`,
    `${"a.".repeat(130)}example:443`,
    `${"a".repeat(400)}:443`,
  ])("refuses %j", (target) => {
    expect(parseAuthority(target)).toBeNull();
  });

  it("never throws, and anything it accepts is one plain host and a port in range", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.fullUnicodeString(), fc.string({ unit: "binary" })), (text) => {
        const parsed = parseAuthority(text);
        if (parsed === null) return;
        expect(parsed.host).toMatch(/^[a-z0-9._~:-]{1,253}$/);
        expect(Number.isInteger(parsed.port) && parsed.port >= 1 && parsed.port <= 65535).toBe(true);
      }),
      RUNS,
    );
  });

  it("reads every DNS name, IPv4 and bracketed IPv6 address with every valid port", () => {
    fc.assert(
      fc.property(host, validPort, (h, port) => {
        const parsed = parseAuthority(`${h}:${port}`);
        expect(parsed).not.toBeNull();
        expect(parsed?.port).toBe(port);
        expect(parsed?.host).toBe(canonicalHost(h));
      }),
      RUNS,
    );
  });

  it("is idempotent: a formatted authority parses back to itself", () => {
    fc.assert(
      fc.property(host, validPort, (h, port) => {
        const parsed = parseAuthority(`${h}:${port}`);
        if (parsed === null) throw new Error(`${h}:${port} refused`);
        expect(parseAuthority(formatAuthority(parsed))).toEqual(parsed);
      }),
      RUNS,
    );
  });

  it("refuses every port that is not 1–65535 in plain digits", () => {
    const badPort = fc.oneof(
      fc.integer({ min: 65536, max: Number.MAX_SAFE_INTEGER }).map(String),
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: 0 }).map(String),
      fc.string().filter((s) => !/^[0-9]{1,5}$/.test(s) || Number(s) === 0 || Number(s) > 65535),
    );
    fc.assert(
      fc.property(host, badPort, (h, port) => {
        expect(parseAuthority(`${h}:${port}`)).toBeNull();
      }),
      RUNS,
    );
  });

  it("refuses a host with userinfo, a path, a query, an escape or white space", () => {
    const poison = fc.constantFrom("@", "/", "?", "#", "%", " ", "\t", "\r\n", "\\", "[", "]");
    fc.assert(
      fc.property(fc.domain(), poison, fc.nat(), validPort, (h, bad, at, port) => {
        const i = at % (h.length + 1);
        expect(parseAuthority(`${h.slice(0, i)}${bad}${h.slice(i)}:${port}`)).toBeNull();
      }),
      RUNS,
    );
  });
});

describe("canonicalHost", () => {
  it("spells a host the one way an allow-list compares", () => {
    expect(canonicalHost("LocalHost.")).toBe("localhost");
    expect(canonicalHost("[::1]")).toBe("::1");
    expect(canonicalHost("2130706433")).toBe("127.0.0.1");
    expect(canonicalHost("::1")).toBeNull();
  });
});
