/**
 * Requests the rig's real kube-apiserver takes as unauthenticated, through the proxy: it ends an HTTP/2
 * session after each of them (UnauthenticatedHTTP2DOSMitigation), which is why the proxy sends them over
 * its bounded HTTP/1.1 pool. Anonymous requests, an Authorization it ignores and a rejected token get
 * the apiserver's own answers, and cost no upstream session past the one that revealed the rejection; an
 * anonymous POST whose body never comes is answered over HTTP/2 and holds no pool connection.
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

  it("the apiserver serves an Authorization that is not `Bearer <token>` as anonymous, never 401", async () => {
    for (const authorization of ["x", "Basic dXNlcjpwYXNzd29yZA==", "Bearer", "Bearer  two-spaces"]) {
      const direct = http2.connect(readRigState().server, { rejectUnauthorized: false });
      direct.on("error", () => {});
      try {
        // /version is public: anonymous gets it; the session still ends after it.
        expect(await get(direct, "/version", authorization)).toEqual({ status: 200, goaway: true });
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
      // An Authorization the apiserver ignores: anonymous, over the pool, no session each.
      for (let i = 0; i < 10; i++)
        expect(await get(client, "/version", "x")).toEqual({ status: 200, goaway: false });
      expect(metric(SESSIONS_OPENED)).toBe(before + 1);
    } finally {
      client.close();
    }
  });

  it("an anonymous POST whose body never comes gets the apiserver's answer and holds no pool connection", async () => {
    const client = http2.connect(rig.proxy.url, { ca: rig.proxy.ca.certificatePem });
    client.on("error", () => {});
    try {
      // Headers that announce a body, and no body: over HTTP/2 upstream the apiserver authorizes the
      // request at its headers (anonymous may not create) and answers without reading the body.
      const stream = client.request({
        ":method": "POST",
        ":path": "/api/v1/namespaces/default/configmaps",
        "content-type": "application/json",
        "content-length": "100",
      });
      const status = await new Promise<number>((resolve, reject) => {
        stream.on("response", (headers) => resolve(Number(headers[":status"])));
        stream.on("error", reject);
      });
      expect(status).toBe(403);
      expect(metric("apisnoop_proxy_upstream_unauthenticated_active")).toBe(0);
      stream.close();
      // Anonymous requests are served over the pool as before.
      expect((await get(client, "/version")).status).toBe(200);
    } finally {
      client.close();
    }
  });
});
