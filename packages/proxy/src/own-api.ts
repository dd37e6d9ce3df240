/**
 * The proxy's own calls to the apiserver — the pod directory's list and watch, the live spec's
 * `/openapi/v2` and `/version`, the CRD watch — made with Node's https and the upstream's own credentials
 * (`Upstream.authorize`), so neither loads client-node. Everything the upstream sends is read as hostile
 * (GUIDE §7): it may be broken, or not an apiserver at all, or a balancer that takes connections and never
 * answers. So every call has a deadline, every body a bound, and a watch tells an end the apiserver chose
 * (a complete response) from a cut connection, and an end that came too soon from a normal one.
 */
import type { ClientRequest, IncomingMessage } from "node:http";
import https from "node:https";
import type { Upstream } from "./upstream";

/**
 * How long a GET may take in all (credentials, connect, TLS, answer, body): the apiserver's own
 * `--request-timeout` for calls that are not watches, so a slower answer is no apiserver's.
 */
export const OWN_API_TIMEOUT_MS = 60_000;
/**
 * One watch event, at most: a Kubernetes object is at most etcd's 1.5 MiB request limit; the event's
 * wrapping and JSON escapes are well within the rest.
 */
export const MAX_WATCH_EVENT_BYTES = 4 * 1024 * 1024;
/**
 * A watch the apiserver ends normally sooner than this, having sent no event, is taken as a failure
 * (client-go's reflector: "very short watch"): an intermediary that answers every watch with an empty 200
 * would otherwise make its callers watch again at once, in a tight loop.
 */
export const MIN_WATCH_MS = 1000;
/** A watch not ended by the apiserver this long after the `timeoutSeconds` it asked for is taken as dead. */
export const WATCH_END_GRACE_MS = 60_000;

/** An HTTP status other than 200; the body (which may echo the request) is never read. */
export class HttpStatusError extends Error {
  constructor(
    readonly statusCode: number,
    what: string,
  ) {
    super(`${what}: HTTP ${statusCode}`);
  }
}

/** The apiserver no longer has the watched resourceVersion (410 Gone, as the answer or an event): list again. */
export class ResourceVersionGone extends Error {}

/** One of the proxy's own calls. */
export interface OwnApiCall {
  upstream: Upstream;
  /** Path and query below the upstream's base path. */
  path: string;
  /** Names the call in its errors (`list pods`); the query never shows (a continue token is opaque). */
  what: string;
  /** So these calls are recognisable in the apiserver's audit log. */
  userAgent: string;
  /** Ends the call (it rejects with the abort's error). */
  signal?: AbortSignal;
}

/** A GET of {@link ownApiGet}. */
export interface OwnApiGet extends OwnApiCall {
  /** Past this many bytes of body the call fails and its connection is closed. */
  maxBodyBytes: number;
  /** The whole call must be over within this (milliseconds); default {@link OWN_API_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** A watch of {@link ownApiWatch}. */
export interface OwnApiWatch extends OwnApiCall {
  /** A line (an event) longer than this fails the watch and closes its connection. */
  maxEventBytes: number;
  /**
   * The watch must end within this (milliseconds): the `timeoutSeconds` it asks the apiserver for plus
   * {@link WATCH_END_GRACE_MS}. Past it the connection is taken as dead.
   */
  timeoutMs: number;
  /** An end sooner than this with no event is a failure; default {@link MIN_WATCH_MS}. */
  minWatchMs?: number;
  /** Called once the apiserver answered 200. */
  onOpen?: () => void;
  /** Called with each non-empty line; an Error returned ends the watch with it. */
  onLine: (line: string) => Error | null;
}

/**
 * GETs `call.path` and resolves with its body.
 * @throws HttpStatusError for a status other than 200; Error when the deadline passes, the body passes
 * its bound or the connection fails; the signal's reason when aborted.
 */
export async function ownApiGet(call: OwnApiGet): Promise<Buffer> {
  const timeoutMs = call.timeoutMs ?? OWN_API_TIMEOUT_MS;
  return send(call, timeoutMs, `${call.what}: no answer within ${timeoutMs} ms`, (response, settle) => {
    const chunks: Buffer[] = [];
    let length = 0;
    response.on("data", (chunk: Buffer) => {
      length += chunk.length;
      if (length > call.maxBodyBytes) {
        settle(new Error(`${call.what}: an answer longer than ${call.maxBodyBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    response.on("end", () => settle(null, Buffer.concat(chunks)));
  });
}

/**
 * Watches `call.path` (a `watch=1` URL), handing each event line to `onLine`. Resolves with the number of
 * events once the apiserver ends the watch: the response complete, after `minWatchMs` or with an event.
 * @throws ResourceVersionGone for a 410 answer; HttpStatusError for another status other than 200; Error
 * for a connection cut mid-stream, an event past its bound, an end too soon with no event, the deadline
 * passed, or what `onLine` returned; the signal's reason when aborted.
 */
export async function ownApiWatch(call: OwnApiWatch): Promise<number> {
  const started = Date.now();
  const minWatchMs = call.minWatchMs ?? MIN_WATCH_MS;
  return send(
    call,
    call.timeoutMs,
    `${call.what}: no end from the apiserver within ${call.timeoutMs} ms`,
    (response, settle) => {
      call.onOpen?.();
      let events = 0;
      const lines = new LineReader(call.maxEventBytes, call.what);
      response.setEncoding("utf8");
      response.on("data", (text: string) => {
        const failure = lines.push(text, (line) => {
          if (!line.trim()) return null;
          events++;
          return call.onLine(line);
        });
        if (failure) settle(failure);
      });
      response.on("end", () => {
        if (events === 0 && Date.now() - started < minWatchMs)
          settle(new Error(`${call.what}: the watch ended at once with no event`));
        else settle(null, events);
      });
    },
  );
}

/**
 * Splits a stream into lines of at most `maxLength` characters (UTF-16 units: at most 3 bytes of UTF-8
 * each, at most 2 bytes of memory each); what is buffered never passes the bound by more than one chunk.
 */
class LineReader {
  private buffered = "";
  /** How far `buffered` is known to hold no newline: a long line arriving in many chunks is scanned once. */
  private scanned = 0;

  constructor(
    private readonly maxLength: number,
    private readonly what: string,
  ) {}

  /** Adds `text`; returns what ends the stream (an error from `onLine`, or the bound), if anything. */
  push(text: string, onLine: (line: string) => Error | null): Error | null {
    this.buffered += text;
    let newline = this.buffered.indexOf("\n", this.scanned);
    while (newline !== -1 && newline <= this.maxLength) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      this.scanned = 0;
      const failure = onLine(line);
      if (failure) return failure;
      newline = this.buffered.indexOf("\n");
    }
    if (newline === -1) this.scanned = this.buffered.length;
    if (newline > this.maxLength || this.buffered.length > this.maxLength)
      return new Error(`${this.what}: an event longer than ${this.maxLength} bytes`);
    return null;
  }
}

/**
 * Sends one GET and hands its 200 response to `read`, which settles the call; any other status rejects.
 * The deadline runs from the start, credentials included (an exec plugin can hang too). Settling with an
 * error, or the deadline, destroys the request: an upstream that goes on sending is cut off.
 */
async function send<T>(
  call: OwnApiCall,
  timeoutMs: number,
  timeoutMessage: string,
  read: (response: IncomingMessage, settle: (error: Error | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let request: ClientRequest | null = null;
    let answer: IncomingMessage | null = null;
    let settled = false;
    const settle = (error: Error | null, value?: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      call.signal?.removeEventListener("abort", abort);
      if (error) {
        request?.destroy();
        reject(error);
      } else resolve(value as T);
    };
    const deadline = setTimeout(() => settle(new Error(timeoutMessage)), timeoutMs);
    // The request itself keeps the process alive while it lasts; the deadline need not.
    deadline.unref();
    const abort = (): void => settle(abortReason(call.signal));
    if (call.signal?.aborted) {
      abort();
      return;
    }
    call.signal?.addEventListener("abort", abort, { once: true });
    const options: https.RequestOptions = {
      method: "GET",
      hostname: call.upstream.host,
      port: call.upstream.port,
      path: call.upstream.basePath + call.path,
      headers: { accept: "application/json", "user-agent": call.userAgent },
    };
    call.upstream.authorize(options).then(
      () => {
        if (settled) return;
        const sent = https.request(options, (response) => {
          answer = response;
          response.on("error", (error) => settle(error));
          if (response.statusCode !== 200) {
            // The body is never read: it may echo the request, and an upstream may send it for ever.
            const status = response.statusCode ?? 0;
            settle(
              status === 410
                ? new ResourceVersionGone(`${call.what}: HTTP 410`)
                : new HttpStatusError(status, call.what),
            );
            return;
          }
          read(response, settle);
        });
        request = sent;
        sent.on("error", (error) => settle(error));
        // Ended by the upstream, a response is complete (its 'end' settles the call); cut (the connection
        // lost), it is not. A complete response whose 'end' never came is left to the deadline.
        sent.on("close", () => {
          if (!answer?.complete) settle(new Error(`${call.what}: the connection closed mid-answer`));
        });
        sent.end();
      },
      (error: unknown) => settle(error instanceof Error ? error : new Error(String(error))),
    );
  });
}

function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error("aborted");
}
