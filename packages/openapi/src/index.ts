export { buildCatalog, categoryOf } from "./catalog";
export {
  emptyFieldReport,
  type FieldLimits,
  type FieldReport,
  FieldSchema,
  requestSchemaRef,
  type WalkOptions,
} from "./fields";
export { kubeconfigErrorLine } from "./kubeconfig-error";
export { LEVELS, type Level, levelOf } from "./level";
export { compileMatcher, type RequestMatcher, splitRequest, UNMATCHED_REASONS } from "./matcher";
export { KUBERNETES_QUERY_PARAMETERS, kubernetesQuery } from "./query";
export {
  compareReleaseNames,
  isReleaseName,
  isVersionedName,
  isWellFormedReleaseName,
  RELEASE_NAME,
} from "./release-name";
export {
  ineligibleEndpointsSource,
  normaliseRelease,
  REFERENCE_LAYOUT,
  type ReleaseSources,
  releaseSources,
} from "./release-specs";
export {
  DownloadError,
  getWithKubeconfig,
  KUBECONFIG_GET_TIMEOUT_MS,
  type LoadedSpec,
  type LoadSpecOptions,
  liveSpecOf,
  loadSpec,
  MAX_SPEC_BYTES,
  parseSpec,
  readSource,
  releaseFromName,
  specSourceKind,
} from "./spec-source";
export * from "./types";
export { asksToWatch, requestTargetWatches } from "./watch";
