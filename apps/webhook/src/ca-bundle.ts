import {
  ApiException,
  CoreV1Api,
  type KubeConfig,
  ListWatch,
  type V1ConfigMap,
  Watch,
} from "@kubernetes/client-node";

/** Puts the CA bundle ConfigMap into a namespace before a mutated pod there needs it. */
export interface CaBundlePublisher {
  /** Resolves once `namespace` holds the bundle; rejects when it cannot (the pod is then left untouched). */
  ensure(namespace: string): Promise<void>;
  /** Stops background work (the watch); `ensure` still answers. */
  close?(): void;
}

/**
 * The PEM bundle mounted as the mutated pods' `ca.crt`: the cluster CA (so the real apiserver still
 * verifies if a client bypasses the proxy) followed by the proxy CA (which signs what the proxy presents).
 */
export function caBundle(clusterCaPem: string, proxyCaPem: string): string {
  return `${clusterCaPem.trim()}\n${proxyCaPem.trim()}\n`;
}

/** How the publisher checks and repairs the bundle ConfigMaps. */
export interface KubeCaBundlePublisherOptions {
  /**
   * How long a namespace's bundle, once read or written, is trusted without asking the apiserver again
   * (milliseconds). Default 5 s: a burst of pods (a Deployment scaling up) costs one read, and a
   * ConfigMap deleted while the watch is down is noticed within this time.
   */
  checkTtlMs?: number;
  /**
   * Watch the bundle ConfigMaps of every namespace (a field selector on their name, so RBAC can limit
   * list/watch to that name): a deleted one is forgotten at once and written again. Default true.
   */
  watch?: boolean;
  /** First delay before restarting a failed watch (milliseconds); doubles up to 30 s. Default 1 s. */
  retryDelayMs?: number;
  /** One line per watch failure, recovery and repair; never headers, tokens or the bundle. */
  log?: (line: string) => void;
  /** The clock (tests). */
  now?: () => number;
}

const MAX_RETRY_DELAY_MS = 30_000;
/** Past this many remembered namespaces, expired entries are swept. */
const SWEEP_ABOVE = 4096;

/**
 * A publisher writing ConfigMap `name` with key `ca.crt` through the Kubernetes API (an existing
 * ConfigMap with other content is replaced).
 *
 * A pod whose service-account volume projects a ConfigMap that does not exist stays in ContainerCreating
 * until it appears. So the bundle's existence is checked per admission — trusted for `checkTtlMs` after a
 * read or write, and forgotten as soon as the watch sees it deleted (a recreated namespace, a
 * `kubectl delete`). A deletion seen by the watch is repaired at once, as kube-controller-manager does for
 * `kube-root-ca.crt`, so a pod admitted in the instant before the deletion was seen still gets its volume.
 */
export function kubeCaBundlePublisher(
  kubeConfig: KubeConfig,
  name: string,
  bundle: string,
  options: KubeCaBundlePublisherOptions = {},
): CaBundlePublisher {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const ttl = options.checkTtlMs ?? 5000;
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  /** When each namespace's bundle was last known to be in place. */
  const checked = new Map<string, number>();
  /** Bumped when a namespace's bundle is seen deleted: a check that started before must not be trusted. */
  const generation = new Map<string, number>();
  const pending = new Map<string, Promise<void>>();
  const body = (namespace: string) => ({
    metadata: { name, namespace, labels: { "app.kubernetes.io/managed-by": "apisnoop-webhook" } },
    data: { "ca.crt": bundle },
  });

  async function publish(namespace: string): Promise<void> {
    try {
      const existing = await api.readNamespacedConfigMap({ name, namespace });
      if (existing.data?.["ca.crt"] === bundle) return;
      await api.replaceNamespacedConfigMap({
        name,
        namespace,
        body: { ...body(namespace), metadata: existing.metadata },
      });
    } catch (error) {
      if (!(error instanceof ApiException) || error.code !== 404) throw error;
      try {
        await api.createNamespacedConfigMap({ namespace, body: body(namespace) });
      } catch (createError) {
        // Another replica (or the watch's repair) created it between our read and create.
        if (!(createError instanceof ApiException) || createError.code !== 409) throw createError;
      }
    }
  }

  function ensure(namespace: string): Promise<void> {
    const at = checked.get(namespace);
    if (at !== undefined && now() - at < ttl) return Promise.resolve();
    let running = pending.get(namespace);
    if (!running) {
      const started = now();
      const startedGeneration = generation.get(namespace) ?? 0;
      running = publish(namespace)
        .then(() => {
          if ((generation.get(namespace) ?? 0) !== startedGeneration) return;
          if (checked.size >= SWEEP_ABOVE) {
            for (const [key, when] of checked) if (now() - when >= ttl) checked.delete(key);
          }
          checked.set(namespace, started);
        })
        .finally(() => pending.delete(namespace));
      pending.set(namespace, running);
    }
    return running;
  }

  /** The bundle of `namespace` is gone: forget it, and put it back unless the namespace is going away. */
  function repair(namespace: string): void {
    checked.delete(namespace);
    generation.set(namespace, (generation.get(namespace) ?? 0) + 1);
    // A check already running may have read the ConfigMap before it was deleted: repair after it.
    const before = pending.get(namespace)?.catch(() => undefined) ?? Promise.resolve();
    before
      .then(() => ensure(namespace))
      .then(
        () => log(`CA bundle ConfigMap ${namespace}/${name} was deleted; written again`),
        (error: unknown) => {
          // A namespace being deleted refuses new objects (403) or is gone (404): nothing to repair.
          const code = error instanceof ApiException ? error.code : null;
          if (code === 403 || code === 404) return;
          log(
            `CA bundle ConfigMap ${namespace}/${name} was deleted; writing it again failed: ${describe(error)}`,
          );
        },
      );
  }

  let stopped = false;
  let informer: ListWatch<V1ConfigMap> | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let retryDelay = options.retryDelayMs ?? 1000;
  if (options.watch ?? true) {
    const fieldSelector = `metadata.name=${name}`;
    informer = new ListWatch<V1ConfigMap>(
      "/api/v1/configmaps",
      new Watch(kubeConfig),
      () => api.listConfigMapForAllNamespaces({ fieldSelector }),
      false,
      undefined,
      fieldSelector,
    );
    informer.on("delete", (configMap) => {
      const namespace = configMap.metadata?.namespace;
      if (namespace && !stopped) repair(namespace);
    });
    let failures = 0;
    // The informer reports a failed list or watch through 'error' and stops; start() resolves either way.
    const restartLater = (error: unknown) => {
      failures++;
      if (stopped || retryTimer) return;
      const delay = retryDelay;
      retryDelay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
      log(`watching CA bundle ConfigMaps failed (${describe(error)}); retrying in ${delay} ms`);
      retryTimer = setTimeout(() => {
        retryTimer = null;
        if (stopped) return;
        const failuresBefore = failures;
        informer?.start().then(
          () => {
            if (failures !== failuresBefore || stopped) return;
            retryDelay = options.retryDelayMs ?? 1000;
            log("watching CA bundle ConfigMaps again");
          },
          (startError: unknown) => restartLater(startError),
        );
      }, delay);
      retryTimer.unref();
    };
    informer.on("error", restartLater);
    informer.start().catch(restartLater);
  }

  return {
    ensure,
    close() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      void informer?.stop().catch(() => undefined);
    },
  };
}

/** One short line about a failure; for HTTP failures only the status code (the message holds headers). */
function describe(error: unknown): string {
  if (error instanceof ApiException) return `HTTP ${error.code}`;
  const message = error instanceof Error ? error.message : String(error);
  return (message.split("\n")[0] ?? "").slice(0, 200);
}
