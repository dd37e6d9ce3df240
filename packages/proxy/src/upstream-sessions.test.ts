/**
 * The HTTP/2 session pool against a local HTTP/2 server: one session per credential, shared by that
 * credential's concurrent requests; the client certificate only without a token; more sessions when the
 * server's stream limit is reached, also for a burst; idle expiry; the session bound; GOAWAY; which
 * requests the apiserver takes as unauthenticated (anonymous, a token it answered 401), and the bound on
 * the tokens remembered.
 */
import { mkdtempSync, rmSync } from "node:fs";
import http2 from "node:http2";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority } from "./certificate-authority";
import type { Upstream } from "./upstream";
import { presentsBearerToken, UpstreamSessions } from "./upstream-sessions";

const dir = mkdtempSync(path.join(tmpdir(), "apisnoop-sessions-test-"));
let server: http2.Http2SecureServer;
let upstream: Upstream;
/** Per TLS connection the server accepted: the client certificate's CN, if any. */
const connections: (string | null)[] = [];
/** Requests the server holds open until released (to keep streams in flight). */
const held: http2.Http2ServerResponse[] = [];
let pools: UpstreamSessions[] = [];
/** Per server session, the credentials its requests carried (one, when sessions are never shared). */
const credentialsBySession = new Map<http2.Http2Session | undefined, Set<string>>();

beforeAll(async () => {
  const ca = await CertificateAuthority.open(dir);
  const leaf = await ca.leafFor(["127.0.0.1"]);
  const client = await ca.leafFor(["proxy-user"]);
  server = http2.createSecureServer({
    key: leaf.key,
    cert: leaf.cert,
    ca: ca.certificatePem,
    requestCert: true,
    rejectUnauthorized: false,
    settings: { maxConcurrentStreams: 8 },
  });
  server.on("secureConnection", (socket: TLSSocket) => {
    const cn = socket.getPeerCertificate()?.subject?.CN;
    connections.push(typeof cn === "string" ? cn : null);
  });
  server.on("request", (req, res) => {
    const seen = credentialsBySession.get(req.stream.session) ?? new Set<string>();
    seen.add(req.headers.authorization ?? "none");
    credentialsBySession.set(req.stream.session, seen);
    if (req.headers.authorization?.startsWith("Bearer rejected")) {
      // As kube-apiserver does (UnauthenticatedHTTP2DOSMitigation): 401, then GOAWAY.
      res.writeHead(401).end("rejected");
      req.stream.session?.close();
    } else if (req.url === "/hold") held.push(res);
    else res.end(req.headers.authorization ?? "none");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  upstream = {
    server: `https://127.0.0.1:${port}`,
    host: "127.0.0.1",
    port,
    authority: `127.0.0.1:${port}`,
    basePath: "",
    serverName: undefined,
    ca: Buffer.from(ca.certificatePem),
    rejectUnauthorized: true,
    clientCertificate: { cert: Buffer.from(client.cert), key: Buffer.from(client.key) },
    clusterName: "test",
    authorize: async () => {},
  };
});

afterEach(() => {
  for (const res of held.splice(0)) res.end();
  for (const pool of pools) pool.close(true);
  pools = [];
  connections.length = 0;
  credentialsBySession.clear();
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function pool(limits: ConstructorParameters<typeof UpstreamSessions>[1] = {}): UpstreamSessions {
  const made = new UpstreamSessions(upstream, limits);
  pools.push(made);
  return made;
}

/** The headers of a GET, with the credential when there is one. */
function request(authorization: string | undefined, url: string): http2.OutgoingHttpHeaders {
  return { ":method": "GET", ":path": url, ...(authorization ? { authorization } : {}) };
}

/** One GET; resolves to the body. */
async function get(
  sessions: UpstreamSessions,
  authorization: string | undefined,
  url = "/",
): Promise<string> {
  const stream = await sessions.open(authorization, request(authorization, url), true);
  if (!stream) throw new Error("no session");
  return new Promise((resolve, reject) => {
    let body = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      body += chunk;
    });
    stream.on("end", () => resolve(body));
    stream.on("error", reject);
  });
}

describe("UpstreamSessions", () => {
  it("carries a credential's concurrent requests on one session, and each token on its own", async () => {
    const sessions = pool();
    const answers = await Promise.all(Array.from({ length: 8 }, () => get(sessions, "Bearer a")));
    expect(answers).toEqual(Array(8).fill("Bearer a"));
    await get(sessions, "Bearer b");
    await expect.poll(() => sessions.stats().streams).toBe(0);
    expect(sessions.stats()).toMatchObject({ sessions: 2, opened: 2 });
    expect(connections).toHaveLength(2);
  });

  it("presents the proxy's client certificate only for requests without a token", async () => {
    const sessions = pool();
    expect(await get(sessions, undefined)).toBe("none");
    expect(await get(sessions, "Bearer a")).toBe("Bearer a");
    expect(connections).toHaveLength(2);
    expect(connections[0]).toEqual(expect.any(String));
    expect(connections[1]).toBeNull();
  });

  it("opens another session when the server's stream limit is reached", async () => {
    const sessions = pool();
    await get(sessions, "Bearer a"); // the server's SETTINGS (8 streams) are known from here on
    for (let i = 0; i < 10; i++) sessions.open("Bearer a", request("Bearer a", "/hold"), true);
    await expect.poll(() => held.length).toBe(10);
    expect(sessions.stats()).toMatchObject({ sessions: 2, streams: 10 });
  });

  it("spreads a burst on one credential over ceil(N / maxConcurrentStreams) sessions, none shared", async () => {
    const sessions = pool();
    // From cold: the burst arrives while the first session connects, before the server's SETTINGS.
    const cold = await Promise.all(Array.from({ length: 20 }, () => get(sessions, "Bearer a")));
    expect(cold).toEqual(Array(20).fill("Bearer a"));
    expect(sessions.stats().opened).toBeLessThanOrEqual(Math.ceil(20 / 8));
    await expect.poll(() => sessions.stats().streams).toBe(0);
    const openedBefore = sessions.stats().opened; // a's, kept open by its idle timer
    // Connected, the server's limit (8) known: 20 streams held open at once per credential, two credentials.
    for (let i = 0; i < 20; i++) {
      sessions.open("Bearer a", request("Bearer a", "/hold"), true);
      sessions.open("Bearer b", request("Bearer b", "/hold"), true);
    }
    await expect.poll(() => held.length).toBe(40);
    // Each credential's 20 streams sit on ceil(20 / 8) sessions of its own, every one of them serving.
    expect(sessions.stats()).toMatchObject({ streams: 40, sessions: connections.length });
    const perCredential = new Map<string, number>();
    for (const seen of credentialsBySession.values()) {
      expect(seen.size).toBe(1);
      for (const credential of seen) perCredential.set(credential, (perCredential.get(credential) ?? 0) + 1);
    }
    expect(Object.fromEntries(perCredential)).toEqual({ "Bearer a": 3, "Bearer b": 3 });
    expect(sessions.stats().opened - openedBefore).toBe(2 + 3);
  });

  it("closes a session that stayed idle", async () => {
    const sessions = pool({ idleTimeoutMs: 50 });
    await get(sessions, "Bearer a");
    expect(sessions.stats().sessions).toBe(1);
    await expect.poll(() => sessions.stats().sessions).toBe(0);
  });

  it("holds at most maxSessions: an idle one makes room, busy ones send the next credential to HTTP/1.1", async () => {
    const sessions = pool({ maxSessions: 2 });
    await get(sessions, "Bearer a");
    await get(sessions, "Bearer b");
    await get(sessions, "Bearer c"); // a or b was idle: closed to make room
    await expect.poll(() => sessions.stats().streams).toBe(0);
    expect(sessions.stats()).toMatchObject({ sessions: 2, opened: 3, overflows: 0 });
    sessions.open("Bearer d", request("Bearer d", "/hold"), true);
    sessions.open("Bearer e", request("Bearer e", "/hold"), true);
    await expect.poll(() => held.length).toBe(2);
    expect(await sessions.open("Bearer f", request("Bearer f", "/"), true)).toBeNull();
    expect(sessions.stats()).toMatchObject({ sessions: 2, overflows: 1 });
  });

  it("moves to a new session after the server's GOAWAY, letting streams in flight finish", async () => {
    const sessions = pool();
    await get(sessions, "Bearer a");
    const inFlight = get(sessions, "Bearer a", "/hold");
    await expect.poll(() => held.length).toBe(1);
    for (const session of serverSessions) session.goaway();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await get(sessions, "Bearer a")).toBe("Bearer a");
    expect(sessions.stats().opened).toBe(2);
    held.shift()?.end("held");
    expect(await inFlight).toBe("held");
  });
});

describe("UpstreamSessions: what the apiserver takes as unauthenticated", () => {
  it("takes a request without a token as anonymous only when the proxy has no client certificate", () => {
    expect(pool().unauthenticated(undefined)).toBe(false);
    const anonymous = new UpstreamSessions({ ...upstream, clientCertificate: null });
    pools.push(anonymous);
    expect(anonymous.unauthenticated(undefined)).toBe(true);
    expect(anonymous.unauthenticated("Bearer a")).toBe(false);
  });

  it("takes an Authorization the apiserver ignores as anonymous, client certificate or not", () => {
    const withCertificate = pool();
    const anonymous = new UpstreamSessions({ ...upstream, clientCertificate: null });
    pools.push(anonymous);
    for (const sessions of [withCertificate, anonymous]) {
      expect(sessions.unauthenticated("x")).toBe(true);
      expect(sessions.unauthenticated("Basic dXNlcjpwYXNz")).toBe(true);
      expect(sessions.unauthenticated("Bearer")).toBe(true);
      expect(sessions.unauthenticated("bearer a")).toBe(false);
    }
    // An empty one is no Authorization: the proxy's client certificate goes with it, when it has one.
    expect(withCertificate.unauthenticated("")).toBe(false);
    expect(anonymous.unauthenticated("")).toBe(true);
  });

  it("reads a bearer token from Authorization as kube-apiserver does", () => {
    for (const value of ["Bearer t", "bearer t", "BEARER t", " \tBearer t \r", "Bearer t and more"])
      expect(presentsBearerToken(value), JSON.stringify(value)).toBe(true);
    // Empty, no token, two spaces (Go's SplitN gives an empty token), another separator or scheme, and
    // white space Go's TrimSpace does not trim from raw bytes (a lone 0xA0).
    for (const value of [
      "",
      " ",
      "t",
      "Bearer",
      "Bearer ",
      "Bearer  t",
      "Bearer\tt",
      "Bearert",
      "Basic dTpw",
      "\u00a0Bearer t",
    ])
      expect(presentsBearerToken(value), JSON.stringify(value)).toBe(false);
  });

  it("takes a token answered 401 as unauthenticated until an answer that is not 401", async () => {
    const sessions = pool();
    expect(sessions.unauthenticated("Bearer rejected-1")).toBe(false);
    expect(await get(sessions, "Bearer rejected-1")).toBe("rejected");
    expect(sessions.unauthenticated("Bearer rejected-1")).toBe(true);
    expect(sessions.unauthenticated("Bearer a")).toBe(false);
    expect(sessions.stats().rejectedCredentials).toBe(1);
    // Answered 401 over HTTP/1.1 again: still rejected. Then accepted: HTTP/2 again.
    sessions.answered("Bearer rejected-1", 401);
    expect(sessions.unauthenticated("Bearer rejected-1")).toBe(true);
    sessions.answered("Bearer rejected-1", 200);
    expect(sessions.unauthenticated("Bearer rejected-1")).toBe(false);
    expect(sessions.stats().rejectedCredentials).toBe(0);
  });

  it("remembers at most rejectedCredentials tokens, forgetting the least recently rejected", async () => {
    const sessions = pool({ rejectedCredentials: 2 });
    for (const token of ["Bearer rejected-1", "Bearer rejected-2", "Bearer rejected-3"])
      expect(await get(sessions, token)).toBe("rejected");
    expect(sessions.stats().rejectedCredentials).toBe(2);
    expect(sessions.unauthenticated("Bearer rejected-1")).toBe(false);
    expect(sessions.unauthenticated("Bearer rejected-2")).toBe(true);
    expect(sessions.unauthenticated("Bearer rejected-3")).toBe(true);
  });
});

describe("UpstreamSessions against an apiserver without HTTP/2", () => {
  it("resolves null (HTTP/1.1 instead) when the server speaks only HTTP/1.1", async () => {
    const ca = await CertificateAuthority.open(path.join(dir, "h1-ca"));
    const leaf = await ca.leafFor(["127.0.0.1"]);
    const h1 = https.createServer({ key: leaf.key, cert: leaf.cert }, (_req, res) => res.end("h1"));
    await new Promise<void>((resolve) => h1.listen(0, "127.0.0.1", resolve));
    const port = (h1.address() as AddressInfo).port;
    const sessions = new UpstreamSessions({
      ...upstream,
      port,
      authority: `127.0.0.1:${port}`,
      ca: Buffer.from(ca.certificatePem),
    });
    pools.push(sessions);
    expect(await sessions.open("Bearer a", request("Bearer a", "/"), true)).toBeNull();
    // And without trying again for a while.
    expect(await sessions.open("Bearer b", request("Bearer b", "/"), true)).toBeNull();
    expect(sessions.stats().opened).toBe(1);
    h1.close();
  });

  it("rejects with the connection error when nothing listens", async () => {
    const sessions = new UpstreamSessions({ ...upstream, port: 1, authority: "127.0.0.1:1" });
    pools.push(sessions);
    await expect(sessions.open("Bearer a", request("Bearer a", "/"), true)).rejects.toThrow(/ECONNREFUSED/);
    await expect.poll(() => sessions.stats()).toMatchObject({ sessions: 0, streams: 0 });
  });
});

const serverSessions = new Set<http2.ServerHttp2Session>();
beforeAll(() => {
  server.on("session", (session: http2.ServerHttp2Session) => {
    serverSessions.add(session);
    session.once("close", () => serverSessions.delete(session));
  });
});
