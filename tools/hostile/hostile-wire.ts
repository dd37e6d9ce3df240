/**
 * Test fixture: hostile byte sequences for the proxy's one port, as an attacker on the pod network would
 * send them — request lines, every CONNECT authority form, header floods, conflicting framing, garbage
 * and truncated TLS records, half-open and silent sockets — and a sender that fires them concurrently.
 * Seeded, so a failing batch can be replayed exactly.
 */
import net from "node:net";
import tls from "node:tls";
import { SeededChoices } from "@apisnoop/openapi/testing";

/** One generated input: bytes for one connection, and how the connection ends. */
export interface HostileInput {
  /** What the input exercises (for the summary and for replaying a failure). */
  kind: string;
  /** "plain": raw TCP, as a forward-mode client's first bytes. "tls": inside TLS, as a reverse-mode client. */
  transport: "plain" | "tls";
  /** TLS server name sent in the ClientHello, for "tls" inputs (undefined: none). */
  servername?: string;
  /** Written in this many pieces (1: one write). */
  chunks: Buffer[];
  /** How the client ends its side: half-close and read on, reset at once, or go silent and reset later. */
  ending: "half-close" | "reset" | "silent";
}

/** What came back for one input. */
export interface HostileOutcome {
  input: HostileInput;
  /** The first line the proxy answered with ("" when it closed without a word). */
  statusLine: string;
  /** The proxy closed (or reset) the connection before the client gave up. */
  closedByProxy: boolean;
}

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "CONNECT", "PRI"];
const VERSIONS = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "HTTP/1.1x", "http/1.1", "", "HTTP/9.9"];
const PATHS = [
  "/",
  "/api",
  "/api/v1/namespaces",
  "/api/v1/namespaces/default/pods?watch=1",
  "/api/v1/namespaces/default/pods/p/exec?command=sh",
  "/apis/apps/v1/deployments?labelSelector=a%3Db",
  "/healthz",
  "/openapi/v2",
  "/%",
  "/%zz/%00",
  "//",
  "/..%2f..%2fetc/passwd",
  "*",
  "",
];

/** Generates hostile inputs against a proxy whose relay sentinel (a local service it must never reach) is `sentinelPort`. */
export class HostileWire {
  private readonly pick: SeededChoices;

  constructor(
    seed: number,
    private readonly sentinelPort: number,
  ) {
    this.pick = new SeededChoices(seed);
  }

  /** `count` inputs of every kind, in a seeded order. */
  batch(count: number): HostileInput[] {
    // Weighted: the plain-text parsers take most inputs; one in eight goes inside TLS, where a handshake
    // costs both sides far more than the bytes it carries.
    const makers = [
      () => this.requestLine(),
      () => this.requestLine(),
      () => this.connect(),
      () => this.connect(),
      () => this.connect(),
      () => this.absoluteForm(),
      () => this.headerFlood("plain"),
      () => this.framing("plain"),
      () => this.framing("plain"),
      () => this.tlsRecords(),
      () => this.tlsRecords(),
      () => this.halfOpen(),
      () => this.bytes(),
      () => (this.chance(0.5) ? this.framing("tls") : this.headerFlood("tls")),
      () => this.insideTls(),
    ];
    const inputs: HostileInput[] = [];
    for (let i = 0; i < count; i++) inputs.push(this.pick.pick(makers)());
    return inputs;
  }

  private int(below: number): number {
    return this.pick.int(below);
  }

  private chance(p: number): boolean {
    return this.pick.random() < p;
  }

  private randomBytes(length: number): Buffer {
    const bytes = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) bytes[i] = this.int(256);
    return bytes;
  }

  private ending(): HostileInput["ending"] {
    const r = this.int(10);
    return r < 7 ? "half-close" : r < 9 ? "reset" : "silent";
  }

  /** Splits bytes into 1–4 writes at random places (parsers must cope with any split). */
  private split(bytes: Buffer): Buffer[] {
    const pieces = 1 + this.int(4);
    if (pieces === 1 || bytes.length < 2) return [bytes];
    const cuts = [...new Set(Array.from({ length: pieces - 1 }, () => 1 + this.int(bytes.length - 1)))].sort(
      (a, b) => a - b,
    );
    const chunks: Buffer[] = [];
    let from = 0;
    for (const cut of cuts) {
      chunks.push(bytes.subarray(from, cut));
      from = cut;
    }
    chunks.push(bytes.subarray(from));
    return chunks;
  }

  private input(
    kind: string,
    transport: "plain" | "tls",
    text: string | Buffer,
    servername?: string,
  ): HostileInput {
    const bytes = typeof text === "string" ? Buffer.from(text, "latin1") : text;
    return { kind, transport, servername, chunks: this.split(bytes), ending: this.ending() };
  }

  /** A token that is sometimes a method, sometimes junk: lower case, control bytes, very long. */
  private method(): string {
    const r = this.int(10);
    if (r < 7) return this.pick.pick(METHODS);
    if (r === 7) return this.pick.pick(METHODS).toLowerCase();
    if (r === 8) return "G".repeat(1 + this.int(70_000));
    return this.randomBytes(1 + this.int(12)).toString("latin1");
  }

  private target(): string {
    const r = this.int(12);
    if (r < 5) return this.pick.pick(PATHS);
    if (r === 5) return `/${"a".repeat(this.int(200_000))}`;
    if (r === 6) return `/api?${"x=1&".repeat(this.int(20_000))}`;
    if (r === 7) return `/a\u0000b\r\nX-Injected: 1`;
    if (r === 8) return this.authority();
    if (r === 9) return `http://127.0.0.1:${this.sentinelPort}/`;
    return this.randomBytes(1 + this.int(40)).toString("latin1");
  }

  /** Every authority form a CONNECT can carry, valid or not. */
  authority(): string {
    const hosts = [
      "x",
      "127.0.0.1",
      "127.1",
      "0x7f.0.0.1",
      "2130706433",
      "localhost",
      "LOCALHOST.",
      "[::1]",
      "[0:0:0:0:0:0:0:1]",
      "[::ffff:127.0.0.1]",
      "[fe80::1%25lo]",
      "[::1",
      "::1",
      "[]",
      "169.254.169.254",
      "kubernetes.default.svc",
      "kubernetes",
      "user:pass@127.0.0.1",
      "a".repeat(300),
      "",
      "999.999.999.999",
      "h\u0000st",
      "[v1.x]",
    ];
    const ports = [
      "",
      ":",
      ":0",
      ":1",
      ":443",
      ":6443",
      `:${this.sentinelPort}`,
      ":65535",
      ":65536",
      ":70000",
      ":-1",
      ":+443",
      ":abc",
      ":1e3",
      ":0x1bb",
      ":99999999999999999999",
      ": 443",
      "::443",
      `:${this.int(65536)}`,
    ];
    return `${this.pick.pick(hosts)}${this.pick.pick(ports)}`;
  }

  private headers(count: number): string {
    let text = "";
    for (let i = 0; i < count; i++) text += `X-H${i}: ${"v".repeat(this.int(20))}\r\n`;
    return text;
  }

  private requestLine(): HostileInput {
    const line = `${this.method()} ${this.target()} ${this.pick.pick(VERSIONS)}`;
    const tail = this.chance(0.8)
      ? `\r\nHost: x\r\n${this.headers(this.int(4))}\r\n`
      : this.pick.pick(["\n\n", "\r\n", "", "\r\r\r\r"]);
    return this.input("request line", "plain", line + tail);
  }

  private connect(): HostileInput {
    const target = this.authority();
    const head = `CONNECT ${target} ${this.chance(0.9) ? "HTTP/1.1" : this.pick.pick(VERSIONS)}\r\n${this.chance(0.7) ? `Host: ${target}\r\n` : ""}${this.headers(this.int(3))}\r\n`;
    // After the head: nothing, garbage, a truncated ClientHello, or a plain request as if tunnelled.
    const after = this.pick.pick([
      Buffer.alloc(0),
      this.randomBytes(this.int(600)),
      Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), this.randomBytes(this.int(300))]),
      Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ]);
    return { ...this.input("connect", "plain", Buffer.concat([Buffer.from(head, "latin1"), after])) };
  }

  private absoluteForm(): HostileInput {
    const url = this.pick.pick([
      `http://127.0.0.1:${this.sentinelPort}/`,
      `http://localhost:${this.sentinelPort}/x`,
      `http://[::1]:${this.sentinelPort}/`,
      "http://169.254.169.254/latest/meta-data/",
      "https://kubernetes.default.svc/api",
      `ftp://127.0.0.1:${this.sentinelPort}/`,
    ]);
    const transport = this.chance(0.5) ? "plain" : "tls";
    return this.input(
      "absolute-form",
      transport,
      `GET ${url} HTTP/1.1\r\nHost: 127.0.0.1:${this.sentinelPort}\r\n\r\n`,
    );
  }

  private headerFlood(transport: "plain" | "tls"): HostileInput {
    const r = this.int(5);
    const start = `GET /api HTTP/1.1\r\nHost: x\r\n`;
    let flood: string;
    if (r === 0) flood = this.headers(200 + this.int(3000));
    else if (r === 1) flood = `X-Big: ${"b".repeat(8_000 + this.int(120_000))}\r\n`;
    else if (r === 2) flood = `X-Fold: a\r\n ${"continued ".repeat(this.int(50))}\r\n\tmore\r\n`;
    else if (r === 3) flood = `Bad Header: x\r\nX-Nul: a\u0000b\r\n: empty-name\r\nX-\u00ff: y\r\n`;
    else
      flood = `Authorization: Bearer ${"t".repeat(this.int(100_000))}\r\nUser-Agent: ${"u".repeat(this.int(20_000))}\r\n`;
    return this.input("header flood", transport, `${start}${flood}\r\n`);
  }

  private framing(transport: "plain" | "tls"): HostileInput {
    const head = `POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`;
    const variants = [
      "Content-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789",
      "Content-Length: 10, 20\r\n\r\n0123456789",
      "Content-Length: -1\r\n\r\n",
      "Content-Length: 99999999999999999999\r\n\r\n{}",
      "Content-Length: 1e3\r\n\r\n{}",
      'Content-Length: 100\r\n\r\n{"truncated":',
      "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
      "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
      "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n{}\r\n",
      "Transfer-Encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n",
      "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
      `Transfer-Encoding: chunked\r\n\r\n2;${"e".repeat(20_000)}\r\n{}\r\n0\r\n\r\n`,
      "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n",
      "Transfer-Encoding: chunked\r\n\r\n2\r\n{}0\r\n\r\n",
      "Transfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: a\r\nX-Trailer: b\r\n\r\nGET / HTTP/1.1\r\n\r\n",
      "Content-Length: 2\r\n\r\n{}GET /api HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n",
      "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n",
      "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n",
      "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 5\r\n\r\nabcde",
      "Connection: Upgrade, close\r\nUpgrade: h2c\r\n\r\n",
    ];
    return this.input("framing", transport, head + this.pick.pick(variants));
  }

  /** Garbage and truncated TLS records on the reverse-mode side (first byte 0x16). */
  private tlsRecords(): HostileInput {
    const r = this.int(5);
    let bytes: Buffer;
    if (r === 0) bytes = Buffer.from([0x16]);
    else if (r === 1)
      bytes = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff]), this.randomBytes(this.int(2000))]);
    else if (r === 2)
      bytes = Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00])]);
    else if (r === 3) {
      const hello = CLIENT_HELLO.subarray(0, 1 + this.int(CLIENT_HELLO.length));
      bytes = Buffer.from(hello);
      for (let i = 0; i < 1 + this.int(4); i++) bytes[this.int(bytes.length)] = this.int(256);
      bytes[0] = 0x16;
    } else bytes = Buffer.concat([Buffer.from([0x16]), this.randomBytes(this.int(20_000))]);
    return this.input("tls records", "plain", bytes);
  }

  private halfOpen(): HostileInput {
    const partial = this.pick.pick([
      "",
      "G",
      "GET /api HT",
      "CONNECT 127.0.0.1:",
      "GET /api HTTP/1.1\r\nHost: x\r\n",
    ]);
    return {
      kind: "half-open",
      transport: this.chance(0.8) ? "plain" : "tls",
      chunks: [Buffer.from(partial)],
      ending: this.pick.pick(["half-close", "reset", "silent"] as const),
    };
  }

  private bytes(): HostileInput {
    return this.input("random bytes", "plain", this.randomBytes(1 + this.int(4096)));
  }

  /** A TLS handshake with an odd server name, then garbage or a request inside. */
  private insideTls(): HostileInput {
    const servername = this.pick.pick([
      undefined,
      "kubernetes.default.svc",
      "localhost",
      `n${this.int(1_000_000)}.example`,
      "a".repeat(250),
      "xn--nxasmq6b.example",
    ]);
    const inner = this.chance(0.5)
      ? this.randomBytes(this.int(2000))
      : Buffer.from(`${this.method()} ${this.target()} HTTP/1.1\r\nHost: x\r\n\r\n`, "latin1");
    return this.input("inside tls", "tls", inner, servername);
  }
}

/** A real TLS 1.3 ClientHello's first bytes, mutated for the truncated-record inputs. */
const CLIENT_HELLO = Buffer.from(
  "16030100f8010000f40303000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000813021303130100ff010000a30000001800160000136578616d706c652e756c666865696d2e6e6574000b000403000102000a00160014001d0017001e0019001801000101010201030104002300000016000000170000000d001e001c040305030603080708080809080a080b080408050806040105010601002b0003020304002d00020101003300260024001d0020358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254",
  "hex",
);

/**
 * Sends each input on its own connection to `port`, `concurrency` at a time, and reports what came back.
 * Never throws: a refused or reset connection is an outcome, not an error.
 */
export async function sendHostile(
  port: number,
  inputs: HostileInput[],
  concurrency = 48,
  giveUpMs = 3000,
): Promise<HostileOutcome[]> {
  const outcomes: HostileOutcome[] = new Array(inputs.length);
  let next = 0;
  // Most TLS inputs resume a session (no certificate signature on either side), as real clients do; one
  // in five makes a full handshake. The bytes inside are what is being tested.
  const sessions: TlsSessions = { last: null, full: 0 };
  const worker = async () => {
    while (next < inputs.length) {
      const i = next++;
      outcomes[i] = await sendOne(port, inputs[i] as HostileInput, giveUpMs, sessions);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return outcomes;
}

/**
 * The inputs come from 64 loopback addresses in turn, as from many pods: the proxy's per-address
 * handshake rate (`--handshake-rate-per-address`) would otherwise pace the fuzz's TLS inputs, and what
 * is tested here is what the bytes do, not how fast one address may send them (flood.rig.test.ts).
 */
let sources = 0;
function nextSourceAddress(): string {
  sources = (sources + 1) % 64;
  return `127.0.1.${sources + 1}`;
}

interface TlsSessions {
  last: Buffer | null;
  full: number;
}

function sendOne(
  port: number,
  input: HostileInput,
  giveUpMs: number,
  sessions: TlsSessions,
): Promise<HostileOutcome> {
  return new Promise((resolve) => {
    let answer = "";
    let settled = false;
    const raw = net.connect({ host: "127.0.0.1", port, localAddress: nextSourceAddress() });
    const socket: net.Socket =
      input.transport === "tls"
        ? tls.connect({
            socket: raw,
            rejectUnauthorized: false,
            servername: input.servername,
            session: sessions.full++ % 5 === 0 ? undefined : (sessions.last ?? undefined),
          })
        : raw;
    if (input.transport === "tls") {
      socket.once("session", (session: Buffer) => {
        sessions.last = session;
      });
    }
    const done = (closedByProxy: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      raw.destroy();
      socket.destroy();
      resolve({ input, statusLine: answer.split("\r\n", 1)[0] ?? "", closedByProxy });
    };
    const timer = setTimeout(() => done(false), giveUpMs);
    socket.on("error", () => done(true));
    raw.on("error", () => done(true));
    socket.on("close", () => done(true));
    socket.on("data", (chunk: Buffer) => {
      if (answer.length < 200) answer += chunk.toString("latin1");
    });
    const start = () => {
      for (const chunk of input.chunks) if (!socket.destroyed) socket.write(chunk);
      if (input.ending === "half-close") socket.end();
      else if (input.ending === "reset") setImmediate(() => done(false));
      else setTimeout(() => done(false), 200);
    };
    if (input.transport === "tls") socket.once("secureConnect", start);
    else raw.once("connect", start);
  });
}
