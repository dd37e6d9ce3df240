/**
 * The floor for any Node.js TLS pass-through to an apiserver: Node's own HTTP/2 server (HTTP/1.1 too, by
 * ALPN) piped to one HTTP/2 session upstream (`h2`) or to a keep-alive pool of HTTP/1.1 connections
 * (`h1`), nothing else (no flows, no header filtering, no recording, no bounds). The benchmark runs it
 * beside apisnoop so the cost of apisnoop's own work can be told from the cost of the platform.
 * With `core`, HTTP/2 clients are served with Node's core stream API (`'stream'`, `stream.respond()`)
 * instead of its compatibility layer (`'request'`), as apisnoop serves them: the leaner floor.
 *   tsx bare-proxy.ts <upstreamPort> <certDir> h1|h2 [core]  -> prints {"port": N}, serves until killed.
 */
import http2 from "node:http2";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import tls from "node:tls";
import { CertificateAuthority } from "../src/certificate-authority";

const upstreamPort = Number(process.argv[2]);
const certDir = process.argv[3];
const upstreamProtocol = process.argv[4];
const coreApi = process.argv[5] === "core";
if (!upstreamPort || !certDir || (upstreamProtocol !== "h1" && upstreamProtocol !== "h2"))
  throw new Error("usage: bare-proxy.ts <upstreamPort> <certDir> h1|h2 [core]");
const leaf = await (await CertificateAuthority.open(certDir)).leafFor(["127.0.0.1"]);

/** HTTP/2's default 64 KiB flow-control window stalls a 118 KiB list on a round trip: as apisnoop does. */
const WINDOW = 4 * 1024 * 1024;
let session: http2.ClientHttp2Session | null = null;
function upstream(): http2.ClientHttp2Session {
  if (session && !session.closed && !session.destroyed) return session;
  const fresh = http2.connect(`https://127.0.0.1:${upstreamPort}`, {
    settings: { initialWindowSize: WINDOW },
    createConnection: () =>
      tls
        .connect({ host: "127.0.0.1", port: upstreamPort, ALPNProtocols: ["h2"], rejectUnauthorized: false })
        .setNoDelay(true),
  });
  fresh.once("connect", () => fresh.setLocalWindowSize(WINDOW));
  fresh.on("error", () => {});
  fresh.on("close", () => {
    if (session === fresh) session = null;
  });
  session = fresh;
  return fresh;
}

/** HTTP/1.1 names HTTP/2 forbids (RFC 9113 §8.2.2), and pseudo-headers the request carries already. */
const NOT_FORWARDED = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "host"]);

const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false, noDelay: true });

/** One request over the HTTP/1.1 pool. */
function forwardHttp1(req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void {
  const headers: Record<string, string | string[] | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!name.startsWith(":") && !NOT_FORWARDED.has(name)) headers[name] = value;
  }
  const upstreamRequest = https.request(
    { host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers, agent },
    (answer) => {
      const out: Record<string, string | string[] | undefined> = {};
      for (const [name, value] of Object.entries(answer.headers))
        if (!NOT_FORWARDED.has(name)) out[name] = value;
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
    },
  );
  upstreamRequest.on("error", () => res.destroy());
  req.pipe(upstreamRequest);
}

const server = http2.createSecureServer(
  { key: leaf.key, cert: leaf.cert, allowHTTP1: true, settings: { initialWindowSize: WINDOW } },
  (req, res) => {
    if (upstreamProtocol === "h1") {
      forwardHttp1(req, res);
      return;
    }
    const headers: http2.OutgoingHttpHeaders = {
      ":method": req.method,
      ":path": req.url,
      ":authority": `127.0.0.1:${upstreamPort}`,
    };
    for (const [name, value] of Object.entries(req.headers)) {
      if (!name.startsWith(":") && !NOT_FORWARDED.has(name)) headers[name] = value;
    }
    const stream = upstream().request(headers, { endStream: req.method === "GET" });
    stream.on("response", (answer) => {
      const out: http2.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer)) if (!name.startsWith(":")) out[name] = value;
      res.writeHead(Number(answer[":status"] ?? 502), out);
      stream.pipe(res);
    });
    stream.on("error", () => res.destroy());
    if (req.method !== "GET") req.pipe(stream);
  },
);
if (coreApi) {
  if (upstreamProtocol !== "h2") throw new Error("bare-proxy.ts: core serves HTTP/2 upstream only");
  // HTTP/1.1 clients stay on 'request'; HTTP/2 streams go to this listener instead of the compatibility
  // layer's, which adding a 'request' listener installed.
  server.removeAllListeners("stream");
  server.on("stream", (client: http2.ServerHttp2Stream, requestHeaders: http2.IncomingHttpHeaders) => {
    client.on("error", () => {});
    const headers: http2.OutgoingHttpHeaders = { ":authority": `127.0.0.1:${upstreamPort}` };
    for (const [name, value] of Object.entries(requestHeaders)) {
      if (name !== ":authority" && name !== ":scheme" && !NOT_FORWARDED.has(name)) headers[name] = value;
    }
    const stream = upstream().request(headers, { endStream: client.endAfterHeaders });
    stream.on("response", (answer) => {
      if (client.destroyed) return;
      const out: http2.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer)) if (!NOT_FORWARDED.has(name)) out[name] = value;
      client.respond(out);
      stream.pipe(client);
    });
    stream.on("error", () => client.destroy());
    if (!client.endAfterHeaders) client.pipe(stream);
  });
}
server.on("connection", (socket: Socket) => socket.setNoDelay(true));
server.on("session", (session) => session.setLocalWindowSize(WINDOW));
server.listen(0, "127.0.0.1", () =>
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`),
);
