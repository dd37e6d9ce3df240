/** Objects the rig tests create, shared by the kubectl and client-node tests so both exercise the same calls. */
import { randomBytes } from "node:crypto";
import type { AuditEvent } from "./audit";

/**
 * A scheduler name no scheduler answers to. On a rig with a node, a pod that names it stays unscheduled:
 * no kubelet runs it, pulls its image or writes its status, so the pod IP a test writes through
 * pods/status (as a kubelet would) stays the test's own.
 */
export const UNSCHEDULED = "apisnoop-unscheduled";

/** A namespace name no other test run uses, so audit events can be attributed to one test. */
export function uniqueNamespace(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/**
 * Polls `probe` every 100 ms until it gives a value (not null or undefined), for state the rig reaches
 * asynchronously (a controller, an informer); throws naming `what` after `timeoutMs`.
 */
export async function until<T>(
  what: string,
  probe: () => Promise<T | null | undefined> | T | null | undefined,
  timeoutMs = 45_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Namespace, ConfigMap and Deployment manifests in `namespace`, labelled with `label` (changed by apply). */
export function rigTestObjects(namespace: string, label: string) {
  return {
    namespace: {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: namespace, labels: { "apisnoop.dev/rig-test": label } },
    },
    configMap: {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "rig-config", namespace, labels: { "apisnoop.dev/rig-test": label } },
      data: { greeting: `hello ${label}` },
    },
    deployment: {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "rig-deployment", namespace, labels: { "apisnoop.dev/rig-test": label } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "rig" } },
        template: {
          metadata: { labels: { app: "rig" } },
          // Never scheduled; only stored and validated.
          spec: {
            schedulerName: UNSCHEDULED,
            containers: [{ name: "pause", image: "registry.k8s.io/pause:3.10" }],
          },
        },
      },
    },
  };
}

/** A request the tests expect in the audit log: verb, resource and (for non-list verbs) object name. */
export interface ExpectedCall {
  verb: string;
  resource: string;
  name?: string;
}

/** The create/get/apply(patch)/delete calls both clients make, plus the watch on configmaps. */
export function expectedCalls(namespace: string): ExpectedCall[] {
  const calls: ExpectedCall[] = [];
  for (const [resource, name] of [
    ["namespaces", namespace],
    ["configmaps", "rig-config"],
    ["deployments", "rig-deployment"],
  ] as const) {
    for (const verb of ["create", "get", "patch", "delete"]) calls.push({ verb, resource, name });
  }
  calls.push({ verb: "watch", resource: "configmaps" });
  return calls;
}

/** True when `event` is the completed (or, for a watch, started) audit record of `call` in `namespace`. */
export function auditMatches(event: AuditEvent, call: ExpectedCall, namespace: string): boolean {
  const ref = event.objectRef ?? {};
  const inNamespace = call.resource === "namespaces" ? ref.name === namespace : ref.namespace === namespace;
  return (
    event.verb === call.verb &&
    ref.resource === call.resource &&
    inNamespace &&
    (call.name === undefined || ref.name === call.name)
  );
}

/** Human-readable list of the expected calls that have no audit event yet. */
export function missingCalls(events: AuditEvent[], namespace: string): string[] {
  return expectedCalls(namespace)
    .filter((call) => !events.some((event) => auditMatches(event, call, namespace)))
    .map((call) => `${call.verb} ${call.resource}${call.name ? `/${call.name}` : ""}`);
}
