import type { AddonChain } from "./addon-chain";
import { type BodyTap, createFlow, type Flow, type FlowRequest, type ProxyMode } from "./flow";
import type { ProxyMetrics } from "./metrics";
import type { SpecSnapshot } from "./spec-snapshot";

/**
 * Drives each flow through the addon chain, as mitmproxy's proxy core does: the transport reports what
 * happened on the wire (a request head, a response head, the last byte, a failure, both sides closed) and
 * this decides which hooks run, in which order, and that each runs once. It knows no socket.
 */
export class FlowLifecycle {
  constructor(
    private readonly chain: AddonChain,
    private readonly metrics: ProxyMetrics,
    /** The spec each new flow is matched against (its snapshot is kept for the flow's life). */
    private readonly currentSpec: () => SpecSnapshot | null,
  ) {}

  /**
   * Flows both of whose sides closed, waiting for their `error` and `done` hooks: all that end in one turn
   * of the event loop run in the next, in the order they ended, from one immediate instead of one each.
   */
  private ended: Flow[] = [];

  /** A request head arrived: a new flow on the current spec, counted in flight; its `request` hooks run. */
  begin(mode: ProxyMode, request: FlowRequest): LiveFlow {
    const live = new LiveFlow(
      createFlow(mode, request, this.currentSpec()),
      this.chain,
      this.metrics,
      this.finishLater,
    );
    this.metrics.inFlight++;
    if (this.chain.has("request")) this.chain.run("request", live.flow);
    return live;
  }

  private readonly finishLater = (flow: Flow): void => {
    if (this.ended.push(flow) === 1) setImmediate(this.finishEnded);
  };

  private readonly finishEnded = (): void => {
    const flows = this.ended;
    this.ended = [];
    for (const flow of flows) this.finish(flow);
  };

  /** After the client has its last byte: `error` and `done`, captured bodies back to their budget, counted. */
  private finish(flow: Flow): void {
    const { chain, metrics } = this;
    if (flow.error) chain.run("error", flow);
    chain.run("done", flow);
    flow.request.body?.release();
    flow.request.bodyStream = null;
    if (flow.response) {
      flow.response.body?.release();
      flow.response.bodyStream = null;
    }
    metrics.countFlow(flow);
  }
}

/** One flow in flight, as its transport reports on it. Every method may be called more than once. */
export class LiveFlow {
  private readonly started = performance.now();
  private completed = false;
  private ended = false;

  constructor(
    readonly flow: Flow,
    private readonly chain: AddonChain,
    private readonly metrics: ProxyMetrics,
    /** Runs the flow's `error` and `done` hooks one turn of the event loop later. */
    private readonly finishLater: (flow: Flow) => void,
  ) {}

  /**
   * The upstream's status line is in, before the client gets it: the `response` hooks run (matching, and
   * whatever capture of `body` an addon wants), then the transport writes the head.
   */
  responseHead(status: number, contentType: string | null, body: BodyTap | null): void {
    this.flow.response = { status, contentType, bodyStream: body, body: null };
    if (this.chain.has("response")) this.chain.run("response", this.flow);
  }

  /** The proxy got no answer from the upstream: the client is answered 502 (the transport writes it). */
  upstreamFailed(message: string): void {
    this.flow.error = { kind: "upstream", message };
    this.flow.response = { status: 502 };
  }

  /** A side hung up early (the first reason given is kept). */
  aborted(message: string): void {
    this.flow.error ??= { kind: "aborted", message };
  }

  /**
   * The upstream's last byte is in, before the client's response ends (or the flow failed): the duration
   * is taken and the `complete` hooks run, once. A hit counted here survives the proxy being killed.
   */
  complete(): void {
    if (this.completed) return;
    this.completed = true;
    this.flow.durationMs = performance.now() - this.started;
    this.chain.run("complete", this.flow);
  }

  /**
   * Both sides are closed: `complete` if it has not run, then, one event-loop turn later so analysis
   * never sits in front of the client's bytes, `error` and `done`; captured bodies go back to their
   * budget and the flow is counted. Once.
   */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.complete();
    this.metrics.inFlight--;
    this.finishLater(this.flow);
  }
}
