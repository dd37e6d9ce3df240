import { isIPv6 } from "node:net";

/** A network authority (`host:port`) in one canonical spelling, safe to compare and to connect to. */
export interface Authority {
  /** Lower case, no trailing dot, IPv4 dotted-quad and IPv6 compressed, without brackets. */
  host: string;
  /** 1–65535. */
  port: number;
}

/** Longer targets are refused before any parsing: a DNS name is at most 253 characters. */
const MAX_AUTHORITY_LENGTH = 300;
const REG_NAME = /^[A-Za-z0-9._~-]+$/;
const IPV6_LITERAL = /^[0-9A-Fa-f:.]+$/;
const PORT = /^[0-9]{1,5}$/;

/**
 * Parses an authority as a CONNECT request line carries it (RFC 9110 §9.3.6): `host:port`, `[v6]:port`.
 * The port is required and must be 1–65535 in plain digits; the host must be a DNS name (labels of at
 * most 63 characters, 253 in all), an IPv4 address or a bracketed IPv6 address without a zone. Anything
 * else — userinfo, a path, percent-escapes, spaces, signs, a missing or huge port — is `null`: the
 * caller answers 400 and never hands the value to the resolver or `net.connect`.
 *
 * The host is returned in one spelling (WHATWG URL's host parser: `127.1` and `0x7f.0.0.1` are
 * `127.0.0.1`, `[0:0::1]` is `::1`), so allow-lists compare what would be connected to, not how it
 * was written.
 */
export function parseAuthority(target: string): Authority | null {
  if (target.length === 0 || target.length > MAX_AUTHORITY_LENGTH) return null;
  const colon = target.lastIndexOf(":");
  if (colon === -1) return null;
  const portText = target.slice(colon + 1);
  if (!PORT.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  const host = canonicalHost(target.slice(0, colon));
  return host === null ? null : { host, port };
}

/**
 * One spelling of a host as written in an authority or on a command line (`[v6]` bracketed), or null
 * when it is no DNS name or IP address.
 */
export function canonicalHost(written: string): string | null {
  if (written.startsWith("[")) {
    if (!written.endsWith("]")) return null;
    const literal = written.slice(1, -1);
    if (!IPV6_LITERAL.test(literal) || !isIPv6(literal)) return null;
    return hostFromUrl(written)?.slice(1, -1) ?? null;
  }
  const name = written.endsWith(".") ? written.slice(0, -1) : written;
  if (!REG_NAME.test(name) || name.length > 253) return null;
  if (name.split(".").some((label) => label.length === 0 || label.length > 63)) return null;
  const host = hostFromUrl(name);
  // The URL parser turns some spellings into IPv6 or other forms: keep only plain results.
  return host !== null && REG_NAME.test(host) ? host : null;
}

/** Formats an authority as it would be written in a request line: `[v6]:port`, `host:port`. */
export function formatAuthority({ host, port }: Authority): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function hostFromUrl(host: string): string | null {
  try {
    return new URL(`http://${host}/`).hostname || null;
  } catch {
    return null;
  }
}
