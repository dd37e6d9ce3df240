import type { Flow } from "./flow";

/** The points in a flow's life an addon can hook, as in mitmproxy's addon API. */
export type FlowHook = "request" | "response" | "complete" | "error" | "done";

/**
 * A small single-purpose step every flow passes through. `request`/`response` run on the hot path and must
 * stay cheap; heavy analysis belongs in `done`, which runs after the client has its last byte.
 */
export interface Addon {
  /** Names the addon in metrics and logs. */
  name: string;
  request?(flow: Flow): void;
  response?(flow: Flow): void;
  /**
   * Once per flow, synchronously before the client's response ends (or when the flow failed): for counting
   * that must survive the proxy being killed. Must be cheap.
   */
  complete?(flow: Flow): void;
  error?(flow: Flow): void;
  done?(flow: Flow): void;
}

/** Told about every addon that throws; the proxy counts these, the request is never failed by them. */
export type AddonFailureHandler = (addon: Addon, hook: FlowHook, error: unknown) => void;

/** The ordered addons of one proxy and the runner that calls their hooks. */
export class AddonChain {
  /** Per hook, only the addons that implement it, so the hot path loops over nothing when nobody listens. */
  private readonly byHook: Record<FlowHook, Addon[]>;

  constructor(
    readonly addons: readonly Addon[],
    private readonly onFailure: AddonFailureHandler = () => {},
  ) {
    this.byHook = {
      request: addons.filter((a) => a.request),
      response: addons.filter((a) => a.response),
      complete: addons.filter((a) => a.complete),
      error: addons.filter((a) => a.error),
      done: addons.filter((a) => a.done),
    };
  }

  /** True when some addon implements `hook` (lets callers skip work nobody reads). */
  has(hook: FlowHook): boolean {
    return this.byHook[hook].length > 0;
  }

  /** Calls `hook` on every addon in order; an addon that throws is reported and the chain goes on. */
  run(hook: FlowHook, flow: Flow): void {
    for (const addon of this.byHook[hook]) {
      try {
        addon[hook]?.(flow);
      } catch (error) {
        this.onFailure(addon, hook, error);
      }
    }
  }
}
