import { z } from "zod";
import { text } from "./text";

/**
 * Who made a call (GUIDE §2): what the client sent (user agent, e2e test, `X-Apisnoop-Source`) and, when
 * the proxy runs in a cluster, the pod behind the connection; and where: the cluster the proxy stands in
 * front of and the run (a CI run id) the call belongs to. Unknown parts are null, never guessed.
 */
const SOURCE_FIELDS = {
  userAgent: text(512),
  /** The e2e test name, from a user agent `e2e.test/... -- <test name>` (GUIDE §3). */
  e2eTest: text(1024).nullable(),
  /** The e2e test is a conformance test (`[Conformance]` in its name). */
  conformance: z.boolean(),
  /** An explicit source name: the `X-Apisnoop-Source` header or the pod's `apisnoop.io/source` annotation. */
  name: text(253).nullable(),
  namespace: text(253).nullable(),
  pod: text(253).nullable(),
  serviceAccount: text(253).nullable(),
  /** Helm chart as `helm.sh/chart` says it (`name-version`). */
  chart: text(253).nullable(),
  /** The Helm release (`app.kubernetes.io/instance`), not to be confused with a Kubernetes release. */
  helmRelease: text(253).nullable(),
  /** `app.kubernetes.io/managed-by`. */
  managedBy: text(253).nullable(),
  /**
   * The cluster the call went to: the proxy's `--cluster` (default the kubeconfig's cluster name, or the
   * in-cluster apiserver's host).
   */
  cluster: text(253).nullable(),
  /**
   * The run (a CI run id) the call belongs to: the `X-Apisnoop-Run` header, else the pod's `apisnoop.io/run`
   * annotation, else the proxy's `--run`; null without one.
   */
  run: text(253).nullable(),
};

/** What proxies wrote before clusters and runs were named has neither: null. */
const SourceObject = z.object({
  ...SOURCE_FIELDS,
  cluster: SOURCE_FIELDS.cluster.default(null),
  run: SOURCE_FIELDS.run.default(null),
});

/**
 * Spooled batches, hit journals and hits files written before the Helm release was named `helmRelease`
 * call it `release`: read them as they were meant, so an upgrade loses nothing.
 */
function renameLegacyHelmRelease(value: unknown): unknown {
  if (!value || typeof value !== "object" || !("release" in value) || "helmRelease" in value) return value;
  const { release, ...rest } = value as Record<string, unknown>;
  return { ...rest, helmRelease: release };
}

export const SourceSchema = z.preprocess(renameLegacyHelmRelease, SourceObject);
export type Source = z.output<typeof SourceObject>;

/** The known parts of a source, as a hits-file line lists them. */
export const SourcePartsSchema = z.preprocess(renameLegacyHelmRelease, z.object(SOURCE_FIELDS).partial());

/** A source read from a file this process did not write (a journal, a spool): legacy names renamed. */
export function upgradeSource(value: unknown): Source {
  const source = renameLegacyHelmRelease(value) as Source;
  return { ...source, cluster: source.cluster ?? null, run: source.run ?? null };
}

/** How the user agent of Kubernetes' e2e suite starts (`e2e.test/v1.34.0 ... -- <test name>`). */
export const E2E_PREFIX = "e2e.test";

/**
 * The source name apisnoop's published per-release e2e coverage is stored under (`apisnoop import
 * apisnoop`, or `npm start`'s first start): endpoints and tests, never bodies; a source like any other,
 * which filters select or leave out.
 */
export const UPSTREAM_E2E = "upstream-e2e";
const TEST_SEPARATOR = " -- ";

/**
 * The source of a request as far as its user agent tells: an e2e test name after ` -- ` for user agents
 * starting with `e2e.test`, `[Conformance]` in it marking a conformance test (GUIDE §3).
 */
export function sourceFromUserAgent(userAgent: string, name: string | null = null): Source {
  let e2eTest: string | null = null;
  if (userAgent.startsWith(E2E_PREFIX)) {
    const cut = userAgent.indexOf(TEST_SEPARATOR);
    if (cut !== -1) e2eTest = userAgent.slice(cut + TEST_SEPARATOR.length).trim() || null;
  }
  return {
    userAgent: userAgent.slice(0, 512),
    e2eTest: e2eTest?.slice(0, 1024) ?? null,
    conformance: e2eTest?.includes("[Conformance]") ?? false,
    name: name?.slice(0, 253) || null,
    namespace: null,
    pod: null,
    serviceAccount: null,
    chart: null,
    helmRelease: null,
    managedBy: null,
    cluster: null,
    run: null,
  };
}

/** A stable identity for a source: equal sources give equal keys, whatever the field order. */
export function sourceKey(source: Source): string {
  return JSON.stringify([
    source.userAgent,
    source.e2eTest,
    source.conformance,
    source.name,
    source.namespace,
    source.pod,
    source.serviceAccount,
    source.chart,
    source.helmRelease,
    source.managedBy,
    // Appended only when set, so sources stored before clusters and runs were named keep their identity.
    ...(source.cluster != null || source.run != null ? [source.cluster ?? null, source.run ?? null] : []),
  ]);
}
