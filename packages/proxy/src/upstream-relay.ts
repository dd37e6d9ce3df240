/**
 * A request's way to the apiserver and its answer's way back, the hot path: over the credential's HTTP/2
 * session (UpstreamSessions), else over an HTTP/1.1 keep-alive pool (a bounded one for requests the
 * apiserver takes as unauthenticated), streamed both ways with back-pressure; the 502 Status when the
 * upstream gives no answer. What happens is reported to the flow (`LiveFlow`); a watch's answer is
 * followed event by event so that a drain can end it between two.
 */
import type http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import type { Duplex, Readable, Writable } from "node:stream";
import { requestTargetWatches } from "@apisnoop/openapi";
import { clientAddressKey } from "./client-address";
import {
  answerBadGateway,
  answeredInFull,
  type ClientRequest,
  type ClientResponse,
  clientAddress,
  flushHeadersUnlessBodyFollows,
  refuse,
  requestBody,
  writeHead,
} from "./client-answers";
import type { ProxyMode } from "./flow";
import type { FlowLifecycle, LiveFlow } from "./flow-lifecycle";
import { eventStreamType, flowRequest } from "./flow-request";
import { HandshakeAdmission } from "./handshake-admission";
import { hasHeader, requestHeadersForHttp2, requestHeadersForUpstream } from "./http-headers";
import type { ProxyMetrics } from "./metrics";
import { statusBody } from "./status";
import { BoundedUpstreamPool, PoolPlace, type PoolRefusal, type Upstream, upstreamAgent } from "./upstream";
import {
  DEFAULT_RETRY_LIMITS,
  MAX_RETRIES,
  ReplayableBody,
  RetryBudget,
  type RetryLimits,
  type RetryReason,
} from "./upstream-retry";
import {
  DEFAULT_UPSTREAM_SESSION_LIMITS,
  presentsBearerToken,
  type UpstreamSessionLimits,
  UpstreamSessions,
} from "./upstream-sessions";
import { watchFraming } from "./watch-framing";

/** A request in flight, as a drain sees it. */
export interface InFlight {
  watch: boolean;
  startedAt: number;
  /**
   * Ends a watch's stream of events, set once its head is in: between two events when the proxy knows
   * their framing (the client reads a complete response and watches again, elsewhere), else by a cut.
   */
  endStream: (() => "ended" | "cut") | null;
  /** A drain asked for the end (it comes with the event in progress, if one is half sent). */
  ending: boolean;
}

/** What the relay needs of the proxy around it. */
export interface RelayOptions {
  upstream: Upstream;
  flows: FlowLifecycle;
  metrics: ProxyMetrics;
  /** Bounds on the HTTP/2 sessions to the apiserver (default: DEFAULT_UPSTREAM_SESSION_LIMITS). */
  upstreamSessions?: Partial<UpstreamSessionLimits>;
  /**
   * Requests in flight, by response: a watch's gets its `endStream` here, and each leaves when its
   * response closes (one 'close' listener per request serves both).
   */
  active: Map<ClientResponse, InFlight>;
  /** Logs a line unless one was logged in the last 10 s. */
  logRarely: (line: string) => void;
  /** Bounds on the bodies held to retry requests the apiserver did not process (default: DEFAULT_RETRY_LIMITS). */
  upstreamRetries?: Partial<RetryLimits>;
}

/** Forwards requests upstream and relays the answers; owns the upstream sessions and pools. */
export class UpstreamRelay {
  /** HTTP/2 sessions to the apiserver, one per credential. */
  private readonly sessions: UpstreamSessions;
  /** For clients that bring their own credential (a bearer token): never present ours. */
  private readonly agent: https.Agent;
  /** For clients without one, when the proxy's kubeconfig has a client certificate: present it. */
  private readonly certAgent: https.Agent;
  /**
   * For requests the apiserver takes as unauthenticated (anonymous, a rejected token): over HTTP/2 each
   * would cost a session (UpstreamSessions), over this pool a place among its bounded connections.
   */
  private readonly unauthenticatedPool: BoundedUpstreamPool;
  /** The request bodies held to send again, across all requests (upstream-retry.ts). */
  private readonly retryBudget: RetryBudget;
  /**
   * Each client address's turns to open a session alone (an unauthenticated body or watch), and its
   * requests waiting for one: at most `sessionsAlone.queuedPerAddress` of those, then 429.
   */
  private readonly sessionsAlone: HandshakeAdmission;
  private readonly sessionsAloneQueuedPerAddress: number;

  constructor(private readonly options: RelayOptions) {
    const { upstream, metrics } = options;
    this.retryBudget = new RetryBudget({ ...DEFAULT_RETRY_LIMITS, ...options.upstreamRetries });
    metrics.retryBudget = this.retryBudget;
    this.agent = upstreamAgent(upstream, false);
    this.certAgent = upstream.clientCertificate ? upstreamAgent(upstream, true) : this.agent;
    this.sessions = new UpstreamSessions(upstream, options.upstreamSessions);
    metrics.upstreamSessions = this.sessions;
    const { unauthenticatedPool, sessionsAlone } = {
      ...DEFAULT_UPSTREAM_SESSION_LIMITS,
      ...options.upstreamSessions,
    };
    this.unauthenticatedPool = new BoundedUpstreamPool(upstream, unauthenticatedPool);
    metrics.unauthenticatedPool = this.unauthenticatedPool;
    this.sessionsAlone = new HandshakeAdmission(sessionsAlone.perAddress, {
      ratePerAddress: sessionsAlone.ratePerAddress,
      now: sessionsAlone.now,
      later: sessionsAlone.later,
    });
    this.sessionsAloneQueuedPerAddress = sessionsAlone.queuedPerAddress;
    metrics.sessionsAlone = this.sessionsAlone;
  }

  /** Ends the upstream sessions and pools. */
  close(): void {
    this.sessions.close(true);
    this.agent.destroy();
    this.certAgent.destroy();
    this.unauthenticatedPool.destroy();
  }

  /**
   * Forwards one request and streams the answer back; the hot path. Over the credential's HTTP/2 session
   * to the apiserver, or over HTTP/1.1 when no session can be had (bound reached, no HTTP/2 upstream)
   * or the apiserver takes the request as unauthenticated; 429 when that pool is full. A request the
   * apiserver did not process (upstream-retry.ts) is sent once more, its body from a bounded copy: the
   * same flow, the same place among the requests in flight, one hit.
   */
  forward(mode: ProxyMode, req: ClientRequest, res: ClientResponse): void {
    const { upstream, metrics } = this.options;
    // An empty Authorization carries no token, as none does: the proxy's client certificate, if any.
    const authorization = req.headers.authorization || undefined;
    const url = req.url ?? "/";
    const http2Client = "stream" in req;
    const body = requestBody(req);
    const hasBody = http2Client
      ? !req.stream.endAfterHeaders
      : req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
    // Only a request that is over once the apiserver has answered takes a place in the shared pool: a
    // body the client sends slowly (or never), or an answer that lasts (a watch, a followed log), would
    // hold its connection for as long as the client likes. Those go over HTTP/2, at a session's cost
    // (bounded by maxSessions), and a 401 there still teaches which tokens are rejected.
    const poolable = !hasBody && !longRunning(url);
    const addressKey = () => clientAddressKey(clientAddress(req));
    /** The request's place in the unauthenticated pool; null: over HTTP/2; the bound met: no way. */
    const placeFor = (): PoolPlace | PoolRefusal | null => {
      if (!poolable || !this.sessions.unauthenticated(authorization)) return null;
      const place = this.unauthenticatedPool.take(addressKey());
      if (place instanceof PoolPlace) return place;
      // A token the apiserver rejected may be valid by now: its answer is the apiserver's to give, over
      // HTTP/2 (as any token it has not seen yet). Anonymous requests get the proxy's 429.
      if (authorization === undefined || !presentsBearerToken(authorization)) return place;
      this.unauthenticatedPool.overflowed();
      return null;
    };
    const pool = placeFor();
    if (typeof pool === "string") {
      this.options.active.delete(res);
      metrics.countRefused(
        pool === "queue" ? "unauthenticated upstream queue" : "unauthenticated upstream queue per address",
      );
      refuse(res, 429, "apisnoop proxy: too many unauthenticated requests waiting, retry", {
        "retry-after": "1",
      });
      return;
    }
    // One that will open a session alone waits for its address's turn; a full queue of those: 429.
    if (
      pool === null &&
      this.sessions.unauthenticated(authorization) &&
      this.sessionsAlone.waitingAt(addressKey()) >= this.sessionsAloneQueuedPerAddress
    ) {
      this.options.active.delete(res);
      metrics.countRefused("unauthenticated upstream sessions per address");
      refuse(res, 429, "apisnoop proxy: too many unauthenticated requests waiting, retry", {
        "retry-after": "1",
      });
      return;
    }
    const live = this.options.flows.begin(mode, flowRequest(mode, req, upstream.basePath, false, hasBody));
    // An addon may tap the body ('data'), which starts it flowing: hold it until the upstream side is
    // there to take it (piping resumes it).
    if (hasBody) body.pause();
    const path = mode === "reverse" ? upstream.basePath + url : url;
    const method = req.method ?? "GET";
    /** Ends the upstream side when the client goes away; set once there is one. */
    let cancelUpstream: (() => void) | null = null;
    let clientGone = false;
    /** The body, with its copy for a retry, once it goes over HTTP/2; null: it is piped as it comes. */
    let replay: ReplayableBody | null = null;
    let retries = 0;
    // An HTTP/2 stream's error also closes it, which the 'close' below handles (the proxy listens for
    // its errors from the start, see ProxyServer).
    if (!http2Client) body.on("error", () => cancelUpstream?.());
    res.on("close", () => {
      this.options.active.delete(res);
      replay?.release();
      if (!answeredInFull(res)) {
        // The client went away (watch closed, request cancelled): stop the upstream side too.
        clientGone = true;
        live.aborted("client closed the connection");
        cancelUpstream?.();
      }
      live.end();
    });
    const sendBody = (target: Writable) => {
      if (replay) replay.sendTo(target);
      else body.pipe(target);
    };
    /**
     * Sends the request again when the apiserver did not process it (`reason`), once; false when it may
     * not be (processed perhaps, sent twice already, its body not held, the client gone or answered),
     * and the caller answers as before.
     */
    const retry = (reason: RetryReason | null): boolean => {
      if (reason === null || retries >= MAX_RETRIES || clientGone || res.headersSent || res.destroyed)
        return false;
      if (hasBody && !replay?.replayable) return false;
      const retryPool = placeFor();
      if (typeof retryPool === "string") return false;
      retries++;
      metrics.countUpstreamRetry(reason);
      replay?.park();
      send(retryPool);
      return true;
    };
    const relay = (stream: http2.ClientHttp2Stream | null, attemptPool: PoolPlace | null) => {
      if (clientGone) {
        stream?.close(http2.constants.NGHTTP2_CANCEL);
        attemptPool?.release();
        return;
      }
      if (retries === 0) metrics.countProtocols(http2Client ? "h2" : "h1", stream ? "h2" : "h1");
      if (stream) {
        // Only an HTTP/2 stream says the apiserver did not process it: the copy is made for those.
        if (hasBody && retries === 0)
          replay = new ReplayableBody(body, this.retryBudget, declaredLength(req));
        cancelUpstream = () => stream.close(http2.constants.NGHTTP2_CANCEL);
        this.relayHttp2(live, body, res, stream, hasBody, sendBody, () => replay?.release(), retry);
      } else {
        const upstreamRequest = this.relayHttp1(
          live,
          req,
          body,
          res,
          method,
          path,
          hasBody,
          http2Client,
          attemptPool,
          sendBody,
        );
        cancelUpstream = () => upstreamRequest.destroy();
      }
      // A retry is the last attempt: its copy of the body is written to it and needed no more.
      if (retries >= MAX_RETRIES) replay?.release();
    };
    const send = (attemptPool: PoolPlace | null) => {
      if (attemptPool) {
        // Until its turn, a client that leaves gives its place in the queue back.
        cancelUpstream = () => attemptPool.release();
        attemptPool.whenTurn(() => {
          // Its turn may come in another request's 'close': a throw there would keep the place for good.
          try {
            relay(null, attemptPool);
          } catch (error) {
            attemptPool.release();
            if (!clientGone) this.answerUpstreamFailure(live, error as Error, res);
          }
        });
        return;
      }
      // The apiserver ends an unauthenticated request's session after it, refusing any stream racing it
      // there: such a request (a body, a watch, a token past the pool's bound) gets a session of its own,
      // a TLS handshake upstream each, when its client address's turn comes (at most so many at once and
      // a second). The turn lasts until the apiserver's answer head, or the attempt's end without one.
      if (!this.sessions.unauthenticated(authorization)) {
        openStream(false, null);
        return;
      }
      const endTurn = this.sessionsAlone.admit(addressKey(), () => {
        // Its turn comes in the admission's own turn of the event loop: a throw there would stop others'.
        try {
          openStream(true, endTurn);
        } catch (error) {
          endTurn();
          if (!clientGone) this.answerUpstreamFailure(live, error as Error, res);
        }
      });
      // Until its stream is there, a client that leaves gives its turn back, or its place in the queue.
      cancelUpstream = endTurn;
    };
    const openStream = (alone: boolean, endTurn: (() => void) | null) => {
      const opened = this.sessions.open(
        authorization,
        requestHeadersForHttp2(req.rawHeaders, method, path, upstream.authority),
        !hasBody,
        alone,
      );
      const opens = (stream: http2.ClientHttp2Stream | null) => {
        if (endTurn) {
          if (stream) {
            stream.once("response", endTurn);
            stream.once("close", endTurn);
          } else endTurn();
        }
        relay(stream, null);
      };
      // A connected session gives its stream at once: the request leaves in this turn of the event loop.
      if (!(opened instanceof Promise)) opens(opened);
      else
        opened.then(opens, (error: Error) => {
          endTurn?.();
          if (!clientGone) this.answerUpstreamFailure(live, error, res);
        });
    };
    send(pool);
  }

  /**
   * The proxy's own answer when the upstream gave none (down, refused, TLS failure): a Kubernetes `Status`,
   * 502 BadGateway, through the client's response or, for a protocol switch, as raw HTTP/1.1 on its socket.
   * The one place that answer is decided.
   */
  answerUpstreamFailure(live: LiveFlow, error: Error, client: ClientResponse | Duplex): void {
    this.countUpstreamError(error);
    live.upstreamFailed(error.message);
    const body = statusBody(
      502,
      "BadGateway",
      `apisnoop proxy: upstream ${this.options.upstream.server} failed: ${error.message}`,
    );
    answerBadGateway(client, body);
  }

  /**
   * Relays a request over an HTTP/2 stream to the apiserver (flow control does the back-pressure).
   * `answered` is called when the answer's head is in; a stream that fails before it is offered to
   * `retry` with why the apiserver did not process it, if it did not.
   */
  private relayHttp2(
    live: LiveFlow,
    body: Readable,
    res: ClientResponse,
    stream: http2.ClientHttp2Stream,
    hasBody: boolean,
    sendBody: (target: Writable) => void,
    answered: () => void,
    retry: (reason: RetryReason | null) => boolean,
  ): void {
    let responded = false;
    stream.on("response", (headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
      responded = true;
      answered();
      const status = Number(headers[":status"] ?? 502);
      live.responseHead(status, headers["content-type"] ?? null, stream);
      if (!this.writeHeadOrFail(live, res, status, undefined, rawHeaders)) {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        return;
      }
      if (!hasHeader(rawHeaders, "content-length")) flushHeadersUnlessBodyFollows(stream, res);
      this.relay(
        live,
        stream,
        res,
        () => stream.close(http2.constants.NGHTTP2_CANCEL),
        eventStreamType(status, rawHeaders, headers["content-type"]),
      );
    });
    stream.on("error", (error) => {
      if (!responded && retry(this.sessions.unprocessed(stream))) return;
      this.upstreamFailedMidway(live, error, res);
    });
    if (hasBody) sendBody(stream);
    else body.resume();
  }

  /**
   * Writes the upstream's head to the client; false, with the client answered 502, when Node will not
   * send it (a status an HTTP/2 client cannot be given): relaying fails closed.
   */
  private writeHeadOrFail(
    live: LiveFlow,
    res: ClientResponse,
    status: number,
    message: string | undefined,
    rawHeaders: string[],
  ): boolean {
    try {
      writeHead(res, status, message, rawHeaders);
      return true;
    } catch (error) {
      this.answerUpstreamFailure(live, error as Error, res);
      return false;
    }
  }

  /**
   * Relays a request over an HTTP/1.1 keep-alive pool: the unauthenticated one, whose place (`pool`) the
   * request holds until its upstream request closes, or the unbounded one (an apiserver without HTTP/2,
   * or at the session bound).
   * Its body goes by `sendBody` (from the copy, for a retry of a stream the apiserver did not process).
   */
  private relayHttp1(
    live: LiveFlow,
    req: ClientRequest,
    body: Readable,
    res: ClientResponse,
    method: string,
    path: string,
    hasBody: boolean,
    http2Client: boolean,
    pool: PoolPlace | null,
    sendBody: (target: Writable) => void,
  ): http.ClientRequest {
    const { upstream } = this.options;
    const authorization = req.headers.authorization;
    const upstreamRequest = https.request({
      agent: pool ? this.unauthenticatedPool.agent : authorization ? this.agent : this.certAgent,
      host: upstream.host,
      port: upstream.port,
      method,
      path,
      headers: requestHeadersForUpstream(
        http2Client ? withoutPseudoHeaders(req.rawHeaders) : req.rawHeaders,
        upstream.authority,
      ) as unknown as http.OutgoingHttpHeaders,
      setHost: false,
    });
    if (pool) upstreamRequest.once("close", () => pool.release());
    upstreamRequest.on("response", (answer) => {
      if (pool) this.sessions.answered(authorization, answer.statusCode ?? 0);
      live.responseHead(answer.statusCode ?? 502, answer.headers["content-type"] ?? null, answer);
      if (
        !this.writeHeadOrFail(live, res, answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders)
      ) {
        upstreamRequest.destroy();
        return;
      }
      if (!hasHeader(answer.rawHeaders, "content-length")) flushHeadersUnlessBodyFollows(answer, res);
      this.relay(
        live,
        answer,
        res,
        () => upstreamRequest.destroy(),
        eventStreamType(answer.statusCode ?? 502, answer.rawHeaders, answer.headers["content-type"]),
      );
    });
    upstreamRequest.on("error", (error) => this.upstreamFailedMidway(live, error, res));
    if (!hasBody) {
      // No body (GET, most DELETEs): send at once rather than one tick later on the request's 'end'.
      upstreamRequest.end();
      body.resume();
    } else {
      sendBody(upstreamRequest);
    }
    return upstreamRequest;
  }

  /** The upstream side failed: a 502 Status if the client has no answer yet, else its response is cut. */
  private upstreamFailedMidway(live: LiveFlow, error: Error, res: ClientResponse): void {
    if (res.writableEnded) return; // the client has its whole answer (a drain ended a watch)
    if (res.headersSent || res.destroyed) {
      live.aborted(error.message);
      res.destroy();
      return;
    }
    this.answerUpstreamFailure(live, error, res);
  }

  /**
   * Streams the upstream's answer to the client with back-pressure. The hit is counted (`complete`) before
   * the client's response ends, so a proxy killed at any moment has counted every response a client
   * received in full. A watch's answer is followed event by event, so that a drain can end it between two.
   */
  private relay(
    live: LiveFlow,
    answer: Readable,
    res: ClientResponse,
    cancelUpstream: () => void,
    /** The content type of a stream of events (a watch's 200 answer), else null. */
    eventStream: string | null,
  ): void {
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      live.complete();
      res.end();
    };
    answer.pipe(res, { end: false });
    answer.on("end", end);
    answer.on("error", () => {
      if (!ended) res.destroy();
    });
    const request = this.options.active.get(res);
    if (!request?.watch || eventStream === null) return;
    const framing = watchFraming(eventStream);
    if (!framing) {
      // A framing the proxy cannot follow (CBOR): cut.
      request.endStream = () => {
        res.destroy();
        return "cut";
      };
      return;
    }
    const follow = (chunk: Buffer) => framing.feed(chunk);
    answer.on("data", follow);
    request.endStream = () => {
      if (ended) return "ended";
      answer.unpipe(res);
      answer.off("data", follow);
      const finish = () => {
        answer.off("data", untilEventEnds);
        end();
        // The connection stays open: closing it with the answer's last chunk would race a client that
        // sends its next request (its new watch) on it at once. That request is answered with
        // `Connection: close`, so the client's watch after it goes to another proxy; an idle connection
        // is closed at the end of the drain's grace. An HTTP/2 stream ends with its END_STREAM, and its
        // session already has the drain's first GOAWAY.
        cancelUpstream();
      };
      const out: NodeJS.WritableStream = res;
      const untilEventEnds = (chunk: Buffer) => {
        const eventEnd = framing.eventEndIn(chunk);
        if (eventEnd !== -1) {
          out.write(chunk.subarray(0, eventEnd));
          finish();
          return;
        }
        framing.feed(chunk);
        if (!out.write(chunk)) {
          answer.pause();
          res.once("drain", () => answer.resume());
        }
      };
      if (framing.betweenEvents) finish();
      else {
        answer.on("data", untilEventEnds);
        answer.resume();
      }
      return "ended";
    };
  }

  /** Counts an upstream failure; logs at most one line every 10 s so an outage does not flood the log. */
  private countUpstreamError(error: Error): void {
    this.options.metrics.upstreamErrors++;
    this.options.logRarely(
      `upstream ${this.options.upstream.server} failed: ${error.message} (answering 502)`,
    );
  }
}

/** The request's Content-Length, when it declares one (HTTP/1.1 or HTTP/2 alike). */
function declaredLength(req: ClientRequest): number | undefined {
  const value = req.headers["content-length"];
  return value === undefined ? undefined : Number(value);
}

/** An HTTP/2 client's headers without its pseudo-headers (`:method`, `:path`, …), for an HTTP/1.1 request. */
function withoutPseudoHeaders(rawHeaders: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.charCodeAt(0) !== 58 /* ":" */) out.push(name, rawHeaders[i + 1] as string);
  }
  return out;
}

/**
 * Whether the apiserver may keep the request's answer open for long: kube-apiserver's long-running
 * requests (a watch, and the `log`, `proxy`, `exec`, `attach` and `portforward` subresources; a log
 * with `follow=true` lasts as long as its container). Told from the request target alone, erring
 * towards "long": a namespace named `log` costs only an HTTP/2 session.
 */
export function longRunning(url: string): boolean {
  if (requestTargetWatches(url)) return true;
  const q = url.indexOf("?");
  return LONG_RUNNING_SUBRESOURCE.test(q === -1 ? url : url.slice(0, q));
}

const LONG_RUNNING_SUBRESOURCE = /\/(?:log|proxy|exec|attach|portforward)(?:\/|$)/;
