/**
 * Requests the rig's real kube-apiserver takes as unauthenticated, through the proxy: it ends an HTTP/2
 * session after each of them (UnauthenticatedHTTP2DOSMitigation), which is why the proxy sends them over
 * its bounded HTTP/1.1 pool. Anonymous requests and a rejected token get the apiserver's own answers,
 * and cost no upstream session past the one that revealed the rejection.
 */
import { randomBytes } from "node:crypto";
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRigState } from "../../../tools/rig/rig";
import { type RigProxy, startRigProxy } from "../../../tools/rig-proxy/rig-proxy";

let rig: RigProxy;

beforeAll(async () => {
  // The admin kubeconfig's user is a token: the proxy has no client certificate to present.
  rig = await startRigProxy("admin");
});

afterAll(async () => {
  await rig?.close();
});

/** One line of the proxy's metrics, 0 when absent. */
function metric(line: string): number {
  const found = rig.proxy.metrics
    .render()
    .split("\n")
    .find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

/** A GET on `session`; resolves with the status and whether the session got a GOAWAY by the answer's end. */
function get(
  session: http2.ClientHttp2Session,
  path: string,
  authorization?: string,
): Promise<{ status: number; goaway: boolean }> {
  let goaway = false;
  const told = () => {
    goaway = true;
  };
  session.on("goaway", told);
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path, ...(authorization ? { authorization } : {}) });
    let status = 0;
    stream.on("response", (headers) => {
      status = Number(headers[":status"]);
    });
    stream.resume();
    // The GOAWAY follows the answer's last frame: give it a moment to be read.
    stream.on("end", () =>
      setTimeout(() => {
        session.off("goaway", told);
        resolve({ status, goaway });
      }, 50),
    );
    stream.on("error", reject);
  });
}

const SESSIONS_OPENED = "apisnoop_proxy_upstream_sessions_opened_total";

describe("unauthenticated requests against kube-apiserver", () => {
  it("the apiserver ends an HTTP/2 session after an anonymous request or a rejected token", async () => {
    for (const authorization of [undefined, `Bearer nope-${randomBytes(6).toString("hex")}`]) {
      const direct = http2.connect(readRigState().server, { rejectUnauthorized: false });
      direct.on("error", () => {});
      try {
        expect((await get(direct, "/version", authorization)).goaway).toBe(true);
      } finally {
        direct.destroy();
      }
    }
  });

  it("through the proxy they get the apiserver's answers and open no upstream session", async () => {
    const client = http2.connect(rig.proxy.url, { ca: rig.proxy.ca.certificatePem });
    client.on("error", () => {});
    const token = `Bearer nope-${randomBytes(6).toString("hex")}`;
    try {
      const before = metric(SESSIONS_OPENED);
      // Anonymous: /version is public; the client's own session to the proxy is never ended for it.
      for (let i = 0; i < 10; i++)
        expect(await get(client, "/version")).toEqual({ status: 200, goaway: false });
      expect(metric(SESSIONS_OPENED)).toBe(before);
      // A token the apiserver rejects: its first request costs one session (the 401 that reveals it).
      expect((await get(client, "/api", token)).status).toBe(401);
      expect(metric(SESSIONS_OPENED)).toBe(before + 1);
      for (let i = 0; i < 10; i++) expect((await get(client, "/api", token)).status).toBe(401);
      expect(metric(SESSIONS_OPENED)).toBe(before + 1);
      expect(metric("apisnoop_proxy_upstream_unauthenticated_requests_total")).toBeGreaterThanOrEqual(20);
    } finally {
      client.close();
    }
  });
});
