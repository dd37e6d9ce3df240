/**
 * client-node's KubeConfig alone, named, so the bundle loads client-node only where this module is
 * imported on demand (the proxy's own API calls with a credential only client-node applies: an exec
 * plugin, an auth provider other than the in-cluster token file): its package index re-exports every
 * generated API.
 */
export { KubeConfig } from "@kubernetes/client-node";
