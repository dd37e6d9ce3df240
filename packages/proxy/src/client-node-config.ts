/**
 * client-node's KubeConfig alone, named, so the bundle loads client-node only where this module is
 * imported on demand (a kubeconfig found by default, a live spec's own API calls): its package index
 * re-exports every generated API.
 */
export { KubeConfig } from "@kubernetes/client-node";
