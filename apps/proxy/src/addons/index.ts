import type { RequestMatcher } from "@apisnoop/openapi";
import type { Addon } from "../addon-chain";
import { matchOperation } from "./match-operation";
import { type HitSink, record } from "./record";

export { matchOperation } from "./match-operation";
export { type Hit, type HitSink, hitFromFlow, record } from "./record";

/** What the default addons need from the running proxy. */
export interface DefaultAddonDeps {
  currentMatcher: () => RequestMatcher | null;
  /** Where hits go; without one nothing is recorded. */
  hits: HitSink | null;
}

/** The default chain, in order: match the operation, then record the hit. One explicit list. */
export function defaultAddons(deps: DefaultAddonDeps): Addon[] {
  return [matchOperation(deps.currentMatcher), ...(deps.hits ? [record(deps.hits)] : [])];
}
