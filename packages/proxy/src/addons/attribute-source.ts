import { type Source, sourceFromUserAgent } from "@apisnoop/protocol";
import type { Addon } from "../addon-chain";
import type { PodIdentity } from "../pod-directory";

/** Finds the pod a client address belongs to; null when none is known. */
export interface PodLookup {
  lookup(remoteAddress: string): PodIdentity | null;
}

/** Where this proxy stands: the cluster it fronts and the run its calls belong to unless told otherwise. */
export interface ProxyPlace {
  /** The `--cluster` name (default the kubeconfig's cluster); null: none. */
  cluster: string | null;
  /** The `--run` id; null: none. */
  run: string | null;
}

const NOWHERE: ProxyPlace = { cluster: null, run: null };

/** The longest cluster or run name kept, as the other source fields. */
const NAME_MAX = 253;

/** Sources are cached per (user agent, headers, pod) so the rollups see one object per client. */
const MAX_CACHED_SOURCES = 10_000;

/**
 * Sets each flow's source (GUIDE §2): user agent and e2e test name, the `X-Apisnoop-Source` header, and —
 * in a cluster — the pod behind the connection's address. Runs at `request`: a map lookup, no I/O.
 * The header wins over the pod's `apisnoop.io/source` annotation; nothing is guessed. Every source carries
 * the proxy's cluster, and a run: the `X-Apisnoop-Run` header, else the pod's `apisnoop.io/run`
 * annotation, else the proxy's `--run`.
 */
export function attributeSource(pods: PodLookup | null, place: ProxyPlace = NOWHERE): Addon {
  const cache = new Map<string, Source>();
  const noPod = {};
  const podKeys = new WeakMap<object, string>();
  let podKeyCounter = 0;
  return {
    name: "attribute-source",
    request(flow) {
      const { userAgent, sourceHeader, runHeader, remoteAddress } = flow.request;
      const pod = pods && remoteAddress ? pods.lookup(remoteAddress) : null;
      const podObject = pod ?? noPod;
      let podKey = podKeys.get(podObject);
      if (podKey === undefined) {
        podKey = String(podKeyCounter++);
        podKeys.set(podObject, podKey);
      }
      const key = `${userAgent ?? ""}\u0000${sourceHeader ?? ""}\u0000${runHeader ?? ""}\u0000${podKey}`;
      let source = cache.get(key);
      if (!source) {
        source = sourceFromUserAgent(userAgent ?? "", sourceHeader?.trim() || pod?.sourceName || null);
        if (pod) {
          source.namespace = pod.namespace;
          source.pod = pod.pod;
          source.serviceAccount = pod.serviceAccount;
          source.chart = pod.chart;
          source.helmRelease = pod.helmRelease;
          source.managedBy = pod.managedBy;
        }
        source.cluster = place.cluster?.slice(0, NAME_MAX) || null;
        source.run = (runHeader?.trim() || pod?.run || place.run)?.slice(0, NAME_MAX) || null;
        if (cache.size >= MAX_CACHED_SOURCES) cache.clear();
        cache.set(key, source);
      }
      flow.source = source;
    },
  };
}
