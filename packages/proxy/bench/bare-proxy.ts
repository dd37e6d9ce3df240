/**
 * The floor for any Node.js HTTPS reverse proxy: Node's own `https` server and client piped together,
 * nothing else (no flows, no header filtering, no recording). The benchmark runs it beside apisnoop so the
 * cost of apisnoop's own work can be told from the cost of the platform.
 *   tsx bare-proxy.ts <upstreamPort> <certDir>  -> prints {"port": N} on stdout, serves until killed.
 */
import https from "node:https";
import type { AddressInfo } from "node:net";
import { CertificateAuthority } from "../src/certificate-authority";

const upstreamPort = Number(process.argv[2]);
const certDir = process.argv[3];
if (!upstreamPort || !certDir) throw new Error("usage: bare-proxy.ts <upstreamPort> <certDir>");
const leaf = await (await CertificateAuthority.open(certDir)).leafFor(["127.0.0.1"]);
const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
const server = https.createServer({ key: leaf.key, cert: leaf.cert }, (req, res) => {
  const upstream = https.request(
    { host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  req.pipe(upstream);
});
server.listen(0, "127.0.0.1", () =>
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`),
);
