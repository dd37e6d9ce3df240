import type { Endpoint, RequestMatcher } from "@apisnoop/openapi";
import type { Addon } from "../addon-chain";
import { analyseFields, type FieldAnalysisSpec } from "./analyse-fields";
import { attributeSource, type PodLookup } from "./attribute-source";
import { describeOutcome } from "./describe-outcome";
import { matchOperation } from "./match-operation";
import { type HitSink, record } from "./record";

export {
  analyseFields,
  analyseFlowFields,
  DEFAULT_RESPONSE_SAMPLES,
  type FieldAnalysisSpec,
} from "./analyse-fields";
export { attributeSource, type PodLookup } from "./attribute-source";
export { describeOutcome, outcomeDetails, subresourceOf } from "./describe-outcome";
export { matchOperation } from "./match-operation";
export { type Hit, type HitFields, type HitSink, hitFromFlow, record, rollupHitFromFlow } from "./record";

/** What the default addons need from the running proxy. */
export interface DefaultAddonDeps {
  currentMatcher: () => RequestMatcher | null;
  /** The current spec for field analysis; null before one is loaded. */
  currentFields?: () => FieldAnalysisSpec | null;
  /** Response bodies read per endpoint and source each minute (0: all); default 20. */
  responseSamples?: number;
  /** Finds the pod behind a client address (in a cluster); null: sources are what clients send. */
  pods?: PodLookup | null;
  /** Where hits go (the hits file, the uplink); none: nothing is recorded. */
  hits: HitSink[];
}

/**
 * The default chain, in order (GUIDE §2): identify the source, match the operation, describe the outcome,
 * analyse fields, record. One explicit list.
 */
export function defaultAddons(deps: DefaultAddonDeps): Addon[] {
  const currentFields = deps.currentFields ?? (() => null);
  const endpointOf = (operationId: string): Endpoint | null =>
    currentFields()?.endpointOf(operationId) ?? null;
  return [
    attributeSource(deps.pods ?? null),
    matchOperation(deps.currentMatcher),
    describeOutcome(endpointOf),
    ...(deps.currentFields ? [analyseFields(currentFields, deps.responseSamples)] : []),
    ...(deps.hits.length > 0 ? [record(...deps.hits)] : []),
  ];
}
