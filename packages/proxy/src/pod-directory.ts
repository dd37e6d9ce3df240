import type { V1Pod } from "@kubernetes/client-node";
import { normaliseRemoteAddress } from "./client-address";
import { MIN_WATCH_MS } from "./own-api";
import { PodWatch, ResourceVersionGone } from "./pod-watch";
import { resolveUpstream, type Upstream } from "./upstream";

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
  /** The upstream to watch, already resolved (the proxy's own); else resolved from kubeconfig and context. */
  upstream?: Upstream;
  /** Told one line per watch failure and per recovery; never headers, tokens or bodies. */
  log?: (line: string) => void;
  /**
   * First delay before restarting a failed list/watch, or listing again after 410 Gone (milliseconds);
   * doubles up to 30 s while they go on. Default 1 s.
   */
  retryDelayMs?: number;
  /** Each list page must be answered within this (milliseconds); default 60 s (`OWN_API_TIMEOUT_MS`). */
  listTimeoutMs?: number;
}

/** How the directory keeps up, for the proxy's metrics. */
export interface PodDirectoryStats {
  /** Pod IPs known. */
  addresses: number;
  /**
   * True from a failed list or watch until a watch has been open a second (or ended normally): changes
   * to pods are not seen meanwhile.
   */
  stale: boolean;
  /** Lists and watches that failed (410 Gone, the apiserver's "list again", not counted). */
  failures: number;
}

interface Claim {
  uid: string;
  identity: PodIdentity;
}

const MAX_RETRY_DELAY_MS = 30_000;

/**
 * Pod identities by pod IP, kept current by a list and watch of pods in all namespaces (`PodWatch`) so a
 * connection's remote IP names the pod that opened it. Needs `list` and `watch` on pods cluster-wide (the
 * chart's proxy ClusterRole grants them). After a watch or list error it lists and watches again after a
 * growing delay; what was known stays served meanwhile.
 */
export class PodDirectory {
  /** Pods claiming each IP, newest claim last: two pods can briefly share an IP while one terminates. */
  private readonly byIp = new Map<string, Claim[]>();
  private readonly ipsByUid = new Map<string, string[]>();
  private readonly watch: PodWatch;
  private retryTimer: NodeJS.Timeout | null = null;
  private wakeUp: (() => void) | null = null;
  private stopped = false;
  private stale = false;
  private failures = 0;

  private constructor(
    upstream: Upstream,
    private readonly options: PodDirectoryOptions,
  ) {
    this.watch = new PodWatch(
      upstream,
      {
        replace: (pods) => this.replace(pods),
        upsert: (pod) => this.upsert(pod),
        remove: (pod) => this.remove(pod),
      },
      { listTimeoutMs: options.listTimeoutMs },
    );
  }

  /**
   * Connects to the cluster, lists every pod and starts watching.
   * @throws Error (one line) when the kubeconfig cannot be loaded or the first list fails, e.g. forbidden.
   */
  static async start(options: PodDirectoryOptions = {}): Promise<PodDirectory> {
    const upstream =
      options.upstream ??
      (await resolveUpstream({ kubeconfig: options.kubeconfig, context: options.context }));
    const directory = new PodDirectory(upstream, options);
    try {
      await directory.watch.list();
    } catch (error) {
      directory.stop();
      throw new Error(`cannot list pods: ${describeError(error)}`);
    }
    void directory.follow();
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

  /** How the directory keeps up: its size, whether it is stale, its failures so far. */
  stats(): PodDirectoryStats {
    return { addresses: this.byIp.size, stale: this.stale, failures: this.failures };
  }

  /** Stops watching; lookups keep answering from what was last known. */
  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.wakeUp?.();
    this.watch.stop();
  }

  /**
   * Watches on and on: again at once from the last resourceVersion when the apiserver ends a watch; after
   * a failure (a watch that ended within a second with no event is one) or a 410 Gone, a delay, then a new
   * list and watch. The delay doubles while failures go on, as client-go's reflector backs off, so that an
   * apiserver (or something in front of it) that fails every call at once is not called in a tight loop;
   * a watch that delivered an event or ended normally starts it anew. A failure is one log line, and the
   * directory is stale (its metric) until a watch has been open a second or ended normally.
   */
  private async follow(): Promise<void> {
    const firstDelay = this.options.retryDelayMs ?? 1000;
    let delay = firstDelay;
    let listFirst = false;
    while (!this.stopped) {
      const eventsBefore = this.watch.eventsApplied;
      let failure: unknown = null;
      let recovery: NodeJS.Timeout | undefined;
      try {
        if (listFirst) await this.watch.list();
        listFirst = false;
        await this.watch.watch(() => {
          if (!this.stale) return;
          // Open is not yet well: an upstream that ends every watch at once opens each one first.
          recovery = setTimeout(() => this.recovered(), MIN_WATCH_MS);
          recovery.unref();
        });
      } catch (error) {
        failure = error;
      } finally {
        clearTimeout(recovery);
      }
      if (this.stopped) return;
      if (failure === null || this.watch.eventsApplied > eventsBefore) delay = firstDelay;
      if (failure === null) {
        this.recovered();
        continue;
      }
      listFirst = true;
      // 410 is the apiserver's ordinary "list again" (a watch older than etcd's compaction): no line for
      // it, but the same delay, since an upstream answering 410 at once would otherwise be listed in a loop.
      if (!(failure instanceof ResourceVersionGone)) {
        this.failures++;
        this.stale = true;
        this.options.log?.(
          `pod directory: watching pods failed (${describeError(failure)}); retrying in ${delay} ms; pod attribution is stale until it recovers`,
        );
      }
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        this.retryTimer = setTimeout(resolve, delay);
        this.retryTimer.unref();
      });
      this.retryTimer = null;
      this.wakeUp = null;
      delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
    }
  }

  /** A watch that lasted, or ended as the apiserver ends them: the directory follows pods again. */
  private recovered(): void {
    if (!this.stale) return;
    this.stale = false;
    this.options.log?.("pod directory: watching pods again");
  }

  /** A (re)list: every pod there is now, in place of what was known. */
  private replace(pods: V1Pod[]): void {
    this.byIp.clear();
    this.ipsByUid.clear();
    for (const pod of pods) this.upsert(pod);
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
}

/**
 * One short line about a list/watch failure. For HTTP failures only the status code is kept: a response
 * body may echo the request, and client-node's errors carry the response headers (GUIDE §4: never log
 * headers).
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
