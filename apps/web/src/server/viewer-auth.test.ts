import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { viewerCheck } from "./viewer-auth";

const withHeader = (authorization?: string) => ({ headers: { authorization } }) as IncomingMessage;

describe("viewerCheck", () => {
  const allowed = viewerCheck({ user: "viewer", password: "a-long-password" });
  const basic = (pair: string) => `Basic ${Buffer.from(pair).toString("base64")}`;

  it("lets in basic auth with the user and password, or the password as a bearer token", () => {
    expect(allowed(withHeader(basic("viewer:a-long-password")))).toBe(true);
    expect(allowed(withHeader(`basic  ${Buffer.from("viewer:a-long-password").toString("base64")}`))).toBe(
      true,
    );
    expect(allowed(withHeader("Bearer a-long-password"))).toBe(true);
  });

  it("keeps out everything else, malformed headers included", () => {
    for (const header of [
      undefined,
      "",
      "Basic",
      "Bearer",
      "Bearer ",
      basic("viewer:a-long-passwordX"),
      basic("other:a-long-password"),
      basic("viewer"),
      "Basic !!!not base64!!!",
      "Bearer viewer:a-long-password",
      "Digest username=viewer",
    ]) {
      expect(allowed(withHeader(header)), String(header)).toBe(false);
    }
  });

  it("lets everyone in without credentials", () => {
    expect(viewerCheck(null)(withHeader())).toBe(true);
  });
});
