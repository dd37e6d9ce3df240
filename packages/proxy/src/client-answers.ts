/**
 * What the proxy writes to a client itself, over HTTP/1.1 or HTTP/2 or, for CONNECT and protocol-switch
 * requests, as raw HTTP/1.1 on the socket: refusals and the 502 as Kubernetes Status objects, and
 * response heads relayed from the upstream.
 */
import http, { type IncomingMessage, ServerResponse } from "node:http";
import type http2 from "node:http2";
import type { Duplex, Readable } from "node:stream";
import { responseHeadersForClient, responseHeadersForHttp2Client } from "./http-headers";
import { statusBody } from "./status";

/**
 * An HTTP/2 client's request as Node's core API gives it: the stream (the body in, the answer out) and
 * its header block. Node's compatibility API (Http2ServerRequest/Response) would wrap each stream in two
 * more streams and their listeners, the largest share of the proxy's CPU per small request.
 */
export interface Http2Request {
  readonly stream: http2.ServerHttp2Stream;
  readonly method: string | undefined;
  /** `:path`. */
  readonly url: string | undefined;
  /** Names in lower case, pseudo-headers included. */
  readonly headers: http2.IncomingHttpHeaders;
  /** Flat `[name, value, …]` as received (pseudo-headers first). */
  readonly rawHeaders: string[];
  readonly remoteAddress: string | undefined;
}

/** A client's request and response, over HTTP/1.1 (Node's http) or HTTP/2 (a core stream): one flow model. */
export type ClientRequest = IncomingMessage | Http2Request;
export type ClientResponse = ServerResponse | http2.ServerHttp2Stream;

/**
 * Whether the proxy ended the answer before the response closed. An HTTP/2 client's RST_STREAM (client-go
 * cancelling a watch, a Ctrl-C), whatever its error code, also marks the stream's writable side finished,
 * since Node ends a stream it is about to destroy; `aborted` says the reset came first.
 */
export function answeredInFull(res: ClientResponse): boolean {
  if (res instanceof ServerResponse) return res.writableFinished;
  return res.writableFinished && !res.aborted;
}

/** The request's body as it streams in: the IncomingMessage itself, or the HTTP/2 stream's readable side. */
export function requestBody(req: ClientRequest): Readable {
  return "stream" in req ? req.stream : req;
}

/** The client's address as the proxy's socket saw it. */
export function clientAddress(req: ClientRequest): string | undefined {
  return "stream" in req ? req.remoteAddress : req.socket.remoteAddress;
}

/**
 * Answers a request the proxy will not serve with a Kubernetes Status and closes the connection (an
 * HTTP/2 client's session stays: only the stream ends).
 */
export function refuse(
  res: ClientResponse,
  code: number,
  message: string,
  extraHeaders?: Record<string, string>,
): void {
  const body = statusBody(code, reasonFor(code), message);
  answerJson(res, code, body, true, extraHeaders);
}

/** A JSON answer the proxy writes itself, in one step; `close` ends an HTTP/1.1 connection after it. */
function answerJson(
  res: ClientResponse,
  code: number,
  body: string,
  close: boolean,
  extraHeaders?: Record<string, string>,
): void {
  const headers = {
    ...extraHeaders,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  };
  if (res instanceof ServerResponse) {
    if (close) res.shouldKeepAlive = false;
    res.writeHead(code, headers);
    res.end(body);
    return;
  }
  if (res.destroyed || res.closed || res.headersSent) return;
  res.respond({ ...headers, ":status": code });
  res.end(body);
}

/** The same on a raw socket (CONNECT and upgrade requests have no ServerResponse). */
export function refuseOnSocket(socket: Duplex, code: number, message: string): void {
  const body = statusBody(code, reasonFor(code), message);
  socket.end(rawAnswer(code, http.STATUS_CODES[code] ?? "", body));
}

function reasonFor(code: number): string {
  return code === 403
    ? "Forbidden"
    : code === 405
      ? "MethodNotAllowed"
      : code === 417
        ? "ExpectationFailed"
        : code === 429
          ? "TooManyRequests"
          : code === 503
            ? "ServiceUnavailable"
            : "BadRequest";
}

/** A complete HTTP/1.1 answer with a JSON body that closes the connection, for a raw socket. */
function rawAnswer(code: number, statusText: string, body: string): string {
  return `HTTP/1.1 ${code} ${statusText}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * The 502 Status `body` through the client's response or, for a protocol switch, as raw HTTP/1.1 on its
 * socket.
 */
export function answerBadGateway(client: ClientResponse | Duplex, body: string): void {
  if (client instanceof ServerResponse || "respond" in client) answerJson(client, 502, body, false);
  else client.end(rawAnswer(502, "Bad Gateway", body));
}

/**
 * The answer to a request the HTTP parser rejected (bad framing, oversized head, header timeout), and
 * the refusal's label; the socket is only closed when the peer is gone.
 */
export function answerParserError(error: NodeJS.ErrnoException, socket: Duplex): string {
  const code =
    error.code === "HPE_HEADER_OVERFLOW" ? 431 : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
  const label = code === 431 ? "header too large" : code === 408 ? "header timeout" : "malformed request";
  if (error.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return label;
  }
  const reason = code === 431 ? "RequestHeaderFieldsTooLarge" : code === 408 ? "Timeout" : "BadRequest";
  const body = statusBody(
    code,
    reason,
    `apisnoop proxy: ${reason === "BadRequest" ? "malformed request" : reason}`,
  );
  socket.end(rawAnswer(code, http.STATUS_CODES[code] ?? "", body));
  return label;
}

/** An upstream answer's status line and `rawHeaders` as HTTP/1.1 text, for a client's raw socket. */
export function responseHeadText(answer: IncomingMessage, rawHeaders: string[]): string {
  let text = `HTTP/1.1 ${answer.statusCode ?? 502} ${answer.statusMessage ?? ""}\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2) text += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  return `${text}\r\n`;
}

/**
 * Writes the upstream's response head (`rawHeaders` as Node gives them, names in their case) to an
 * HTTP/1.1 or HTTP/2 client, minus what must not cross (hop-by-hop headers; HTTP/2 has no status message).
 * Throws when Node will not send it (a status outside 200–599 to an HTTP/2 client): the caller answers 502.
 * Nothing is written to a client already gone.
 */
export function writeHead(
  res: ClientResponse,
  status: number,
  message: string | undefined,
  rawHeaders: string[],
): void {
  if (res instanceof ServerResponse) {
    res.writeHead(status, message, responseHeadersForClient(rawHeaders));
    return;
  }
  // A stream the client reset is closed before it is destroyed, and respond() throws on it.
  if (res.destroyed || res.closed) return;
  const headers = responseHeadersForHttp2Client(rawHeaders);
  headers[":status"] = String(status);
  res.respond(headers);
}

/**
 * A watch sends its headers long before its first event: flush them unless the body is right behind.
 * (`headersSent` is already true after writeHead: Node only buffers them, so track the body instead.)
 * HTTP/2 sends a response's HEADERS frame at writeHead.
 */
export function flushHeadersUnlessBodyFollows(body: NodeJS.ReadableStream, res: ClientResponse): void {
  if (!(res instanceof ServerResponse)) return;
  let bodyStarted = false;
  body.once("data", () => {
    bodyStarted = true;
  });
  setImmediate(() => {
    if (!bodyStarted && !res.destroyed && !res.writableEnded) res.flushHeaders();
  });
}
