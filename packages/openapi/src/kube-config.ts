/**
 * client-node's KubeConfig alone, named, so a bundle carries only what it needs (the package's index
 * re-exports every generated API). Loaded on demand: only a live spec pays for it.
 */
export { KubeConfig } from "@kubernetes/client-node";
