import type { Addon } from "../addon-chain";
import type { CaptureBudget } from "../body-capture";
import { analyseFields } from "./analyse-fields";
import { attributeSource, type PodLookup, type ProxyPlace } from "./attribute-source";
import { describeOutcome } from "./describe-outcome";
import { matchOperation } from "./match-operation";
import { type HitSink, record } from "./record";

export {
  analyseFields,
  analyseFlowFields,
  DEFAULT_RESPONSE_SAMPLES,
  WATCH_PREFIX_BYTES,
} from "./analyse-fields";
export { attributeSource, type PodLookup, type ProxyPlace } from "./attribute-source";
export { describeOutcome, outcomeDetails, subresourceOf } from "./describe-outcome";
export { matchOperation } from "./match-operation";
export { type HitSink, hitLineOf, hitOf, record } from "./record";

/** What the default addons need from the running proxy. */
export interface DefaultAddonDeps {
  /** Holds captured bodies within their caps; null: no body is captured, fields are not analysed. */
  capture: CaptureBudget | null;
  /** Response bodies read per endpoint and source each minute (0: all); default 20. */
  responseSamples?: number;
  /** Finds the pod behind a client address (in a cluster); null: sources are what clients send. */
  pods?: PodLookup | null;
  /** The cluster and run every source carries (unless a header or pod names another run). */
  place?: ProxyPlace;
  /** Where hits go (the hits file, the uplink); none: nothing is recorded. */
  hits: HitSink[];
}

/**
 * The default chain, in order (GUIDE §2): identify the source, match the operation, describe the outcome,
 * analyse fields, record. One explicit list.
 */
export function defaultAddons(deps: DefaultAddonDeps): Addon[] {
  return [
    attributeSource(deps.pods ?? null, deps.place),
    matchOperation(),
    describeOutcome(),
    ...(deps.capture ? [analyseFields(deps.capture, deps.responseSamples)] : []),
    ...(deps.hits.length > 0 ? [record(...deps.hits)] : []),
  ];
}
