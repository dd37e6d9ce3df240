import { describe, expect, it } from "vitest";
import {
  hasHeader,
  requestHeadersForHttp2,
  requestHeadersForUpstream,
  responseHeadersForClient,
  responseHeadersForHttp2Client,
} from "./http-headers";

describe("requestHeadersForHttp2", () => {
  it("sets the pseudo-headers, lower-cases names, keeps repeats and drops what HTTP/2 forbids", () => {
    const raw = [
      "Host",
      "127.0.0.1:8443",
      "User-Agent",
      "kubectl/v1.34",
      "Authorization",
      "Bearer t",
      "Connection",
      "keep-alive, X-Private",
      "X-Private",
      "drop me",
      "Accept",
      "application/json",
      "Accept",
      "*/*",
      "Transfer-Encoding",
      "chunked",
      "TE",
      "gzip",
      "Expect",
      "100-continue",
      "Upgrade",
      "h2c",
    ];
    expect(requestHeadersForHttp2(raw, "POST", "/api/v1/namespaces", "10.0.0.1:6443")).toEqual({
      ":method": "POST",
      ":scheme": "https",
      ":authority": "10.0.0.1:6443",
      ":path": "/api/v1/namespaces",
      "user-agent": "kubectl/v1.34",
      authorization: "Bearer t",
      accept: ["application/json", "*/*"],
    });
  });

  it("replaces an HTTP/2 client's own pseudo-headers and keeps TE: trailers", () => {
    const raw = [
      ":method",
      "GET",
      ":path",
      "/x",
      ":authority",
      "proxy:8443",
      ":scheme",
      "https",
      "te",
      "trailers",
    ];
    expect(requestHeadersForHttp2(raw, "GET", "/k8s/x", "api:443")).toEqual({
      ":method": "GET",
      ":scheme": "https",
      ":authority": "api:443",
      ":path": "/k8s/x",
      te: "trailers",
    });
  });
});

describe("responseHeadersForHttp2Client", () => {
  it("drops :status and Transfer-Encoding, lower-cases names and keeps repeats as arrays", () => {
    const raw = [
      ":status",
      "200",
      "Content-Type",
      "application/json",
      "transfer-encoding",
      "chunked",
      "Warning",
      "a",
      "warning",
      "b",
      "Warning",
      "c",
      "Connection",
      "X-Hop",
      "X-Hop",
      "1",
      "__proto__",
      "kept",
    ];
    expect(responseHeadersForClient(raw)).toContain("transfer-encoding");
    const headers = responseHeadersForHttp2Client(raw);
    expect({ ...headers }).toEqual({
      "content-type": "application/json",
      warning: ["a", "b", "c"],
      ["__proto__"]: "kept",
    });
    expect(Object.keys(headers)).toEqual(["content-type", "warning", "__proto__"]);
  });
});

describe("requestHeadersForUpstream", () => {
  it("drops hop-by-hop headers, sets Host to the upstream and keeps the rest in order and case", () => {
    const raw = [
      "Host",
      "127.0.0.1:8443",
      "User-Agent",
      "kubectl/v1.32",
      "Authorization",
      "Bearer t",
      "Connection",
      "keep-alive, X-Private",
      "X-Private",
      "drop me",
      "Proxy-Connection",
      "keep-alive",
      "Accept",
      "application/json",
      "Accept",
      "*/*",
      "Expect",
      "100-continue",
      "Transfer-Encoding",
      "chunked",
    ];
    expect(requestHeadersForUpstream(raw, "10.0.0.1:6443")).toEqual([
      "Host",
      "10.0.0.1:6443",
      "User-Agent",
      "kubectl/v1.32",
      "Authorization",
      "Bearer t",
      "Accept",
      "application/json",
      "Accept",
      "*/*",
      "Transfer-Encoding",
      "chunked",
    ]);
  });

  it("keeps Connection and Upgrade for a protocol switch and adds Host when missing", () => {
    const raw = [
      "Connection",
      "Upgrade",
      "Upgrade",
      "SPDY/3.1",
      "X-Stream-Protocol-Version",
      "v4.channel.k8s.io",
    ];
    expect(requestHeadersForUpstream(raw, "api:6443", true)).toEqual(["Host", "api:6443", ...raw]);
  });
});

describe("responseHeadersForClient", () => {
  it("drops the upstream's connection management and keeps repeated headers", () => {
    const raw = [
      "Audit-Id",
      "1",
      "Connection",
      "close",
      "Warning",
      "a",
      "Warning",
      "b",
      "Keep-Alive",
      "timeout=5",
    ];
    expect(responseHeadersForClient(raw)).toEqual(["Audit-Id", "1", "Warning", "a", "Warning", "b"]);
    expect(hasHeader(raw, "warning")).toBe(true);
    expect(hasHeader(raw, "content-length")).toBe(false);
  });
});
