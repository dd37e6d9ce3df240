/**
 * The parts of @kubernetes/client-node the pod directory uses, named, so a bundle carries only them. Loaded
 * on demand (`await import`): only a proxy that attributes pods pays for them.
 */
export { CoreV1Api, KubeConfig, makeInformer } from "@kubernetes/client-node";
