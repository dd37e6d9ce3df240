import type { Informer, KubeConfig, ObjectCache, V1Pod } from "@kubernetes/client-node";
import { normaliseRemoteAddress } from "./client-address";

/**
 * Who a pod is, as far as source attribution (GUIDE §2) cares: read from the pod object alone.
 * Helm's labels are taken from the pod's own labels (charts put them on the pod template); owners are not
 * chased. Unknown parts are null, never guessed.
 */
export interface PodIdentity {
  namespace: string;
  pod: string;
  serviceAccount: string | null;
  /** `helm.sh/chart` (`name-version`). */
  chart: string | null;
  /** Helm release: `app.kubernetes.io/instance`. */
  helmRelease: string | null;
  /** `app.kubernetes.io/managed-by` (`Helm` for Helm-installed pods). */
  managedBy: string | null;
  /** The pod's `apisnoop.io/source` annotation: an explicit source name. */
  sourceName: string | null;
  /** The pod's `apisnoop.io/run` annotation: the run (a CI run id) its calls belong to. */
  run?: string | null;
  /** The controller owner reference as `Kind/name` (`ReplicaSet/web-7d9f`). */
  owner: string | null;
}

/** Annotation a pod sets to name its source explicitly (the pod-level `X-Apisnoop-Source`). */
export const SOURCE_ANNOTATION = "apisnoop.io/source";

/** Annotation a pod sets to name the run its calls belong to (the pod-level `X-Apisnoop-Run`). */
export const RUN_ANNOTATION = "apisnoop.io/run";

const FIELD_MAX = 253;

/**
 * The identity of a pod from its metadata and spec. Helm 2-era charts label pods `chart`/`release`/
 * `heritage` instead of the recommended labels: those are read only when `heritage` marks the pod as
 * templated by Helm (or Tiller), since `release` alone is too common a label name to trust.
 */
export function podIdentity(pod: V1Pod): PodIdentity {
  const labels = pod.metadata?.labels ?? {};
  const legacyHelm = labels.heritage === "Helm" || labels.heritage === "Tiller";
  const controller = pod.metadata?.ownerReferences?.find((reference) => reference.controller);
  return {
    namespace: pod.metadata?.namespace ?? "",
    pod: pod.metadata?.name ?? "",
    serviceAccount: text(pod.spec?.serviceAccountName),
    chart: text(labels["helm.sh/chart"] ?? (legacyHelm ? labels.chart : undefined)),
    helmRelease: text(labels["app.kubernetes.io/instance"] ?? (legacyHelm ? labels.release : undefined)),
    managedBy: text(labels["app.kubernetes.io/managed-by"] ?? (legacyHelm ? labels.heritage : undefined)),
    sourceName: text(pod.metadata?.annotations?.[SOURCE_ANNOTATION]),
    run: text(pod.metadata?.annotations?.[RUN_ANNOTATION]),
    owner: controller ? text(`${controller.kind}/${controller.name}`) : null,
  };
}

function text(value: string | undefined): string | null {
  return value ? value.slice(0, FIELD_MAX) : null;
}

/**
 * The IPs a pod is reachable at and that identify it: none for hostNetwork pods (their IP is the node's,
 * shared with every other host-network pod and the kubelet) and none for finished pods (their IP is free
 * to be given to a new pod).
 */
export function podAddresses(pod: V1Pod): string[] {
  if (pod.spec?.hostNetwork) return [];
  const phase = pod.status?.phase;
  if (phase === "Succeeded" || phase === "Failed") return [];
  const addresses = new Set<string>();
  for (const candidate of [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((entry) => entry.ip)]) {
    const ip = normaliseRemoteAddress(candidate);
    if (ip) addresses.add(ip);
  }
  return [...addresses];
}

/** Options of {@link PodDirectory.start}. */
export interface PodDirectoryOptions {
  /** A kubeconfig file; default: `$KUBECONFIG`, `~/.kube/config`, else the in-cluster service account. */
  kubeconfig?: string;
  context?: string;
  /** Told one line per watch failure and per recovery; never headers, tokens or bodies. */
  log?: (line: string) => void;
  /** First delay before restarting a failed list/watch (milliseconds); doubles up to 30 s. Default 1 s. */
  retryDelayMs?: number;
}

interface Claim {
  uid: string;
  identity: PodIdentity;
}

const MAX_RETRY_DELAY_MS = 30_000;

/**
 * Pod identities by pod IP, kept current by an informer (list + watch of pods in all namespaces) so a
 * connection's remote IP names the pod that opened it. Needs `list` and `watch` on pods cluster-wide (the
 * chart's proxy ClusterRole grants them). After a watch or list error the informer is restarted after a
 * growing delay; what was known stays served meanwhile.
 */
export class PodDirectory {
  /** Pods claiming each IP, newest claim last: two pods can briefly share an IP while one terminates. */
  private readonly byIp = new Map<string, Claim[]>();
  private readonly ipsByUid = new Map<string, string[]>();
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelayMs: number;
  private errors = 0;
  private stopped = false;

  private constructor(
    private readonly informer: Informer<V1Pod> & ObjectCache<V1Pod>,
    private readonly options: PodDirectoryOptions,
  ) {
    this.retryDelayMs = options.retryDelayMs ?? 1000;
  }

  /**
   * Connects to the cluster, lists every pod and starts watching.
   * @throws Error (one line) when the kubeconfig cannot be loaded or the first list fails, e.g. forbidden.
   */
  static async start(options: PodDirectoryOptions = {}): Promise<PodDirectory> {
    // client-node takes seconds to import: only a proxy that attributes pods pays for it.
    const { CoreV1Api, KubeConfig, makeInformer } = await import("./pod-informer-client");
    const config = loadKubeConfig(new KubeConfig(), options);
    const api = config.makeApiClient(CoreV1Api);
    const informer = makeInformer<V1Pod>(config, "/api/v1/pods", () => api.listPodForAllNamespaces());
    const directory = new PodDirectory(informer, options);
    let firstError: unknown = null;
    const recordFirst = (error: unknown) => {
      firstError ??= error;
    };
    informer.on("error", recordFirst);
    informer.on("add", (pod) => directory.upsert(pod));
    informer.on("update", (pod) => directory.upsert(pod));
    informer.on("delete", (pod) => directory.remove(pod));
    try {
      await informer.start();
    } catch (error) {
      firstError ??= error;
    }
    informer.off("error", recordFirst);
    if (firstError) {
      directory.stop();
      throw new Error(`cannot list pods: ${describeError(firstError)}`);
    }
    informer.on("error", (error) => directory.restartLater(error));
    return directory;
  }

  /** The pod behind a connection's remote address, or null (not a pod IP, a hostNetwork pod, unknown). */
  lookup(ip: string): PodIdentity | null {
    const address = normaliseRemoteAddress(ip);
    const claims = address ? this.byIp.get(address) : undefined;
    return claims?.[claims.length - 1]?.identity ?? null;
  }

  /** Number of pod IPs known. */
  get size(): number {
    return this.byIp.size;
  }

  /** Stops watching; lookups keep answering from what was last known. */
  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    void this.informer.stop().catch(() => undefined);
  }

  private upsert(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    this.forget(uid);
    const addresses = podAddresses(pod);
    if (addresses.length === 0) return;
    const identity = podIdentity(pod);
    for (const ip of addresses) {
      const claims = this.byIp.get(ip);
      if (claims) claims.push({ uid, identity });
      else this.byIp.set(ip, [{ uid, identity }]);
    }
    this.ipsByUid.set(uid, addresses);
  }

  private remove(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (uid) this.forget(uid);
  }

  private forget(uid: string): void {
    for (const ip of this.ipsByUid.get(uid) ?? []) {
      const claims = this.byIp.get(ip)?.filter((claim) => claim.uid !== uid) ?? [];
      if (claims.length > 0) this.byIp.set(ip, claims);
      else this.byIp.delete(ip);
    }
    this.ipsByUid.delete(uid);
  }

  /** The informer stopped on an error: restart it after a delay that doubles while failures go on. */
  private restartLater(error: unknown): void {
    if (this.stopped) return;
    const delay = this.retryDelayMs;
    this.options.log?.(
      `pod directory: watching pods failed (${describeError(error)}); retrying in ${delay} ms`,
    );
    const errorsBefore = ++this.errors;
    this.retryDelayMs = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = null;
      if (this.stopped) return;
      try {
        // Resolves once the list (if needed) is done and the watch answered; a failure on the way has
        // already come back through the 'error' handler.
        await this.informer.start();
      } catch (startError) {
        this.restartLater(startError);
        return;
      }
      if (this.errors === errorsBefore && !this.stopped) {
        this.retryDelayMs = this.options.retryDelayMs ?? 1000;
        this.options.log?.("pod directory: watching pods again");
      }
    }, delay);
    this.retryTimer.unref();
  }
}

function loadKubeConfig(config: KubeConfig, options: PodDirectoryOptions): KubeConfig {
  try {
    if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
    else config.loadFromDefault();
    if (options.context) config.setCurrentContext(options.context);
  } catch (error) {
    throw new Error(`cannot load kubeconfig ${options.kubeconfig ?? "(default)"}: ${describeError(error)}`);
  }
  if (!config.getCurrentCluster()) {
    throw new Error(`kubeconfig ${options.kubeconfig ?? "(default)"} has no current cluster`);
  }
  return config;
}

/**
 * One short line about a list/watch failure. client-node's ApiException message carries the response
 * headers and body, so for HTTP failures only the status code is kept (GUIDE §4: never log headers).
 */
export function describeError(error: unknown): string {
  const code =
    (error as { code?: unknown; statusCode?: unknown } | null)?.statusCode ??
    (error as { code?: unknown })?.code;
  if (typeof code === "number") return `HTTP ${code}`;
  const cause = (error as { cause?: { message?: unknown } } | null)?.cause?.message;
  const message = error instanceof Error ? error.message : String(error);
  const line = typeof cause === "string" && cause ? `${message}: ${cause}` : message;
  return (line.split("\n")[0] ?? "").slice(0, 200);
}
