import { ApiException, CoreV1Api, type KubeConfig } from "@kubernetes/client-node";

/** Puts the CA bundle ConfigMap into a namespace before a mutated pod there needs it. */
export interface CaBundlePublisher {
  /** Resolves once `namespace` holds the bundle; rejects when it cannot (the pod is then left untouched). */
  ensure(namespace: string): Promise<void>;
}

/**
 * The PEM bundle mounted as the mutated pods' `ca.crt`: the cluster CA (so the real apiserver still
 * verifies if a client bypasses the proxy) followed by the proxy CA (which signs what the proxy presents).
 */
export function caBundle(clusterCaPem: string, proxyCaPem: string): string {
  return `${clusterCaPem.trim()}\n${proxyCaPem.trim()}\n`;
}

/**
 * A publisher writing ConfigMap `name` with key `ca.crt` through the Kubernetes API; each namespace is
 * written once per process (an existing ConfigMap with other content is replaced).
 */
export function kubeCaBundlePublisher(
  kubeConfig: KubeConfig,
  name: string,
  bundle: string,
): CaBundlePublisher {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const done = new Map<string, Promise<void>>();
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
      await api.createNamespacedConfigMap({ namespace, body: body(namespace) });
    }
  }
  return {
    ensure(namespace) {
      let pending = done.get(namespace);
      if (!pending) {
        pending = publish(namespace);
        // A failure is retried by the next pod rather than cached.
        pending.catch(() => done.delete(namespace));
        done.set(namespace, pending);
      }
      return pending;
    },
  };
}
