/**
 * Header handling for forwarding. Works on Node's `rawHeaders` (flat `[name, value, ...]`) so names keep
 * their case and order and repeated headers (Warning, Set-Cookie) survive. Values are copied, never read,
 * except `Connection`, `Host` and `User-Agent`.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection and are not forwarded. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "te",
  "trailer",
  "upgrade",
]);

/**
 * The headers to send upstream for a client request: hop-by-hop headers (and those the client's
 * `Connection` names) dropped, `Host` set to the upstream, `Expect` dropped (Node already answered it).
 * With `keepUpgrade`, `Connection`/`Upgrade` stay: the request is a protocol switch (exec over SPDY or
 * WebSocket) tunnelled as bytes. `Transfer-Encoding` stays so Node re-frames a chunked body as chunked.
 */
export function requestHeadersForUpstream(
  rawHeaders: string[],
  upstreamAuthority: string,
  keepUpgrade = false,
): string[] {
  const dropped = connectionTokens(rawHeaders);
  const out: string[] = [];
  let hostSet = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (lower === "host") {
      if (!hostSet) out.push(name, upstreamAuthority);
      hostSet = true;
      continue;
    }
    if (lower === "expect") continue;
    if (
      keepUpgrade
        ? lower === "proxy-connection" || lower === "proxy-authorization"
        : HOP_BY_HOP.has(lower) || dropped?.has(lower)
    )
      continue;
    out.push(name, rawHeaders[i + 1] as string);
  }
  if (!hostSet) out.unshift("Host", upstreamAuthority);
  return out;
}

/**
 * The same for an HTTP/2 request to the upstream: its pseudo-headers (`:authority` the upstream's), and
 * the client's headers in lower case, repeats as arrays, minus what HTTP/2 forbids (RFC 9113 §8.2.2:
 * connection-specific headers, `Transfer-Encoding`, `TE` other than `trailers`) and the client's own
 * pseudo-headers and `Host`.
 */
export function requestHeadersForHttp2(
  rawHeaders: string[],
  method: string,
  path: string,
  upstreamAuthority: string,
): OutgoingHttp2Headers {
  const dropped = connectionTokens(rawHeaders);
  const out: OutgoingHttp2Headers = {
    ":method": method,
    ":scheme": "https",
    ":authority": upstreamAuthority,
    ":path": path,
  };
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = (rawHeaders[i] as string).toLowerCase();
    const value = rawHeaders[i + 1] as string;
    if (lower.charCodeAt(0) === 58 /* ":" */ || NOT_OVER_HTTP2.has(lower) || dropped?.has(lower)) continue;
    if (lower === "te" && value.trim().toLowerCase() !== "trailers") continue;
    const earlier = out[lower];
    out[lower] =
      earlier === undefined ? value : Array.isArray(earlier) ? [...earlier, value] : [earlier, value];
  }
  return out;
}

/** Request headers as Node's HTTP/2 client takes them: pseudo-headers and lower-case names. */
export type OutgoingHttp2Headers = Record<string, string | string[]>;

/** What an HTTP/2 request never carries from an HTTP/1.1 one, besides the `Connection`-listed names. */
const NOT_OVER_HTTP2 = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "trailer",
  "upgrade",
  "transfer-encoding",
  "host",
  "expect",
  "http2-settings",
]);

/**
 * The upstream's response headers for an HTTP/1.1 client, minus hop-by-hop ones and HTTP/2
 * pseudo-headers (`:status`); the proxy keeps its own client connection.
 */
export function responseHeadersForClient(rawHeaders: string[]): string[] {
  const dropped = connectionTokens(rawHeaders);
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (lower.charCodeAt(0) === 58 /* ":" */ || HOP_BY_HOP.has(lower) || dropped?.has(lower)) continue;
    out.push(name, rawHeaders[i + 1] as string);
  }
  return out;
}

/**
 * The same for an HTTP/2 client, as the object Node's HTTP/2 response takes in one step (an array makes
 * it remove and re-validate every name first): lower-case names, repeats kept as arrays, and no
 * `Transfer-Encoding` or `HTTP2-Settings` (HTTP/2 frames the body itself and forbids both; Node throws on them).
 */
export function responseHeadersForHttp2Client(rawHeaders: string[]): OutgoingHttp2Headers {
  const dropped = connectionTokens(rawHeaders);
  // No prototype: a header named `__proto__` is a header like any other.
  const out: OutgoingHttp2Headers = { __proto__: null } as unknown as OutgoingHttp2Headers;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = (rawHeaders[i] as string).toLowerCase();
    if (lower.charCodeAt(0) === 58 /* ":" */ || HOP_BY_HOP.has(lower) || dropped?.has(lower)) continue;
    if (lower === "transfer-encoding" || lower === "http2-settings") continue;
    const value = rawHeaders[i + 1] as string;
    const earlier = out[lower];
    out[lower] =
      earlier === undefined ? value : Array.isArray(earlier) ? [...earlier, value] : [earlier, value];
  }
  return out;
}

/** Whether the raw headers carry `name` (lower-case). */
export function hasHeader(rawHeaders: string[], name: string): boolean {
  for (let i = 0; i < rawHeaders.length; i += 2)
    if ((rawHeaders[i] as string).toLowerCase() === name) return true;
  return false;
}

/** Extra header names a `Connection` header lists (`Connection: close, X-Foo`), besides the standard ones. */
function connectionTokens(rawHeaders: string[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() !== "connection") continue;
    for (const token of (rawHeaders[i + 1] as string).split(",")) {
      const t = token.trim().toLowerCase();
      if (!t || t === "close" || t === "keep-alive" || t === "upgrade") continue;
      tokens ??= new Set();
      tokens.add(t);
    }
  }
  return tokens;
}
