export { type Addon, AddonChain, type AddonFailureHandler, type FlowHook } from "./addon-chain";
export {
  type DefaultAddonDeps,
  defaultAddons,
  type HitSink,
  hitLineOf,
  matchOperation,
  record,
} from "./addons";
export { caFingerprint, fetchProxyCa } from "./admin-server";
export { type Authority, canonicalHost, formatAuthority, parseAuthority } from "./authority";
export { CertificateAuthority, IN_CLUSTER_HOSTS, type LeafCertificate } from "./certificate-authority";
export { type ConnectDecision, ConnectPolicy, parseAllowTunnel } from "./connect-policy";
export {
  createFlow,
  type Flow,
  type FlowError,
  type FlowRequest,
  type FlowResponse,
  type ProxyMode,
} from "./flow";
export { HitsFile } from "./hits-file";
export { installLastResort, type LastResortSink } from "./last-resort";
export { type ConnectionLimits, DEFAULT_LIMITS } from "./limits";
export { ProxyMetrics } from "./metrics";
export { PodDirectory, type PodIdentity } from "./pod-directory";
export { type ClientMode, type ProxiedKubeconfigOptions, proxiedKubeconfig } from "./proxied-kubeconfig";
export type { DrainSummary } from "./proxy-server";
export { PROXY_USER_AGENT, SpecRefresher } from "./spec-refresher";
export { type SpecSnapshot, specSnapshot } from "./spec-snapshot";
export {
  DEFAULT_CA_DIR,
  expectedHosts,
  type ListenAddress,
  type ProxyOptions,
  type ProxyUplinkOptions,
  parseListenAddress,
  type RunningProxy,
  startProxy,
} from "./start-proxy";
export { BatchSpool } from "./uplink/batch-spool";
export { HitJournal } from "./uplink/hit-journal";
export { Uplink, type UplinkOptions, type UplinkStats } from "./uplink/uplink";
export { resolveUpstream, type Upstream } from "./upstream";
