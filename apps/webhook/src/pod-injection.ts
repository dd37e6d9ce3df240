/**
 * What the opt-in webhook does to a Pod, as pure functions: decide whether it opts in, and build the JSON
 * patch (RFC 6902) that sends its in-cluster Kubernetes clients through the apisnoop proxy and makes them
 * trust it.
 *
 * Routing is reverse mode: `KUBERNETES_SERVICE_HOST/PORT` point at the proxy Service. client-go's
 * in-cluster config (and every other official client) builds the apiserver URL from exactly these two
 * variables, so only Kubernetes API traffic moves; `HTTPS_PROXY` would also capture every other HTTPS
 * destination of the pod unless `NO_PROXY` listed them all (it cannot say "everything but the apiserver"),
 * and clients that ignore proxy variables would bypass it silently.
 *
 * A pod annotated `apisnoop.io/redirect: iptables` is routed at the network layer instead: an init
 * container with NET_ADMIN adds a NAT rule in the pod's network namespace sending the apiserver's
 * ClusterIP:port to the proxy Service, as Istio's and kubernetes-tproxy's init containers do. Its
 * environment is left as it is, so clients that hardcode `https://kubernetes.default.svc` or the
 * ClusterIP, which the environment route misses, are captured too.
 */

/** Annotation (on a Pod) or label (on a Namespace) that opts in. */
export const SNOOP_KEY = "apisnoop.io/snoop";
/** Annotation naming the source the Pod's hits are counted under (e.g. the addon's chart name). */
export const SOURCE_ANNOTATION = "apisnoop.io/source";
/** Annotation naming the run (a CI run id) the Pod's hits are counted under. */
export const RUN_ANNOTATION = "apisnoop.io/run";
/** Annotation the webhook sets, so a second webhook entry (or a re-invocation) never patches twice. */
export const INJECTED_ANNOTATION = "apisnoop.io/injected";
/**
 * Annotation the webhook sets on an opted-in pod it will not route, saying why; nothing else of the
 * pod is changed.
 */
export const SKIPPED_ANNOTATION = "apisnoop.io/skipped";
/** Annotation asking for the network-layer route; its one value is {@link REDIRECT_IPTABLES}. */
export const REDIRECT_ANNOTATION = "apisnoop.io/redirect";
export const REDIRECT_IPTABLES = "iptables";
/** Name of the init container that adds the NAT rule. */
export const REDIRECT_CONTAINER = "apisnoop-redirect";
/** Environment variable carrying the source name into the pod, for clients that send `X-Apisnoop-Source`. */
export const SOURCE_ENV = "APISNOOP_SOURCE";
/** Environment variable carrying the run into the pod, for clients that send `X-Apisnoop-Run`. */
export const RUN_ENV = "APISNOOP_RUN";
/** The ConfigMap every service-account volume projects `ca.crt` from. */
export const CLUSTER_CA_CONFIGMAP = "kube-root-ca.crt";

/** Which webhook entry called: every pod of a labelled namespace, or annotated pods anywhere. */
export type AdmissionScope = "namespace" | "pod";

/** Where the proxy is and which ConfigMap holds the cluster CA + proxy CA bundle. */
export interface InjectionSettings {
  proxyHost: string;
  proxyPort: number;
  caBundleConfigMap: string;
  /** The network-layer route; absent: pods asking for it are not routed (and say why). */
  redirect?: RedirectSettings;
}

/** What the redirect init container needs. */
export interface RedirectSettings {
  /** Its image (apps/webhook/redirect/Dockerfile) and pull policy. */
  image: string;
  pullPolicy?: string;
  /** The apiserver as pods reach it: the `kubernetes` Service's `ClusterIP:port`. */
  apiserver: string;
  /** The proxy Service's `ClusterIP:port` the connections go to instead; null until it is resolved. */
  proxy: string | null;
  /** Why the route cannot be offered in this cluster (an IPv6 apiserver): pods asking are skipped with it. */
  unavailable?: string;
}

/** The parts of a Pod the webhook reads (a structural subset of core/v1 Pod). */
export interface PodLike {
  metadata?: {
    name?: string;
    namespace?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec?: {
    hostNetwork?: boolean;
    containers?: ContainerLike[];
    initContainers?: ContainerLike[];
    volumes?: Array<{
      name: string;
      projected?: {
        sources?: Array<{ configMap?: { name?: string; items?: Array<{ key: string; path: string }> } }>;
      };
    }>;
  };
}

interface ContainerLike {
  name: string;
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
}

/** One RFC 6902 operation. */
export interface JsonPatchOperation {
  op: "add" | "replace";
  path: string;
  value: unknown;
}

/** Whether the pod should be mutated for this webhook entry. */
export function shouldSnoop(pod: PodLike, scope: AdmissionScope): boolean {
  const annotations = pod.metadata?.annotations ?? {};
  if (annotations[INJECTED_ANNOTATION] === "true" || annotations[SKIPPED_ANNOTATION]) return false;
  // Defence in depth: the chart's objectSelector already excludes apisnoop's own pods.
  if (pod.metadata?.labels?.["app.kubernetes.io/part-of"] === "apisnoop") return false;
  const podChoice = annotations[SNOOP_KEY];
  if (scope === "namespace") return podChoice !== "false";
  return podChoice === "true";
}

/**
 * Why an opted-in pod must not be routed through the proxy, or null. A hostNetwork pod resolves names
 * with its node's DNS (the proxy Service's name means nothing there, unless it asked for
 * ClusterFirstWithHostNet), and such pods are often what makes Service routing work at all on their node
 * (CNI agents, kube-proxy): routing them through a Service would leave them, and the node, without the API.
 */
export function skipReason(pod: PodLike, settings?: InjectionSettings): string | null {
  if (pod.spec?.hostNetwork === true) {
    return "hostNetwork pod: the node's network cannot be relied on to reach the proxy Service; not routed";
  }
  const redirect = pod.metadata?.annotations?.[REDIRECT_ANNOTATION];
  if (redirect !== undefined && redirect !== REDIRECT_IPTABLES) {
    return `${REDIRECT_ANNOTATION}: '${redirect}' is not a route apisnoop knows (only '${REDIRECT_IPTABLES}'); not routed`;
  }
  if (redirect === REDIRECT_IPTABLES && settings?.redirect?.unavailable) {
    return `${REDIRECT_ANNOTATION}: ${settings.redirect.unavailable}; not routed`;
  }
  if (redirect === REDIRECT_IPTABLES && !settings?.redirect?.proxy) {
    return `${REDIRECT_ANNOTATION}: the webhook has no redirect image or has not resolved the proxy Service's address yet; not routed`;
  }
  return null;
}

/** Whether the pod asks for the network-layer route. */
export function wantsRedirect(pod: PodLike): boolean {
  return pod.metadata?.annotations?.[REDIRECT_ANNOTATION] === REDIRECT_IPTABLES;
}

/**
 * The init container that sends the pod's connections to the apiserver's ClusterIP to the proxy Service
 * (apps/webhook/redirect/apisnoop-redirect.sh): root with NET_ADMIN only, in the pod's own network
 * namespace, done before any other container starts.
 */
export function redirectContainer(redirect: RedirectSettings & { proxy: string }) {
  return {
    name: REDIRECT_CONTAINER,
    image: redirect.image,
    ...(redirect.pullPolicy && { imagePullPolicy: redirect.pullPolicy }),
    env: [
      { name: "APISNOOP_REDIRECT_FROM", value: redirect.apiserver },
      { name: "APISNOOP_REDIRECT_TO", value: redirect.proxy },
    ],
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: false,
      capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] },
    },
    resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
  };
}

/** The JSON patch that only marks a skipped pod with the reason. */
export function podSkipPatch(pod: PodLike, reason: string): JsonPatchOperation[] {
  return [annotationPatch(pod, SKIPPED_ANNOTATION, reason)];
}

/** Adds one annotation, creating the annotations map when the pod has none. */
function annotationPatch(pod: PodLike, key: string, value: string): JsonPatchOperation {
  return pod.metadata?.annotations
    ? { op: "add", path: `/metadata/annotations/${pointerSegment(key)}`, value }
    : { op: "add", path: "/metadata/annotations", value: { [key]: value } };
}

/** Escapes a key for a JSON pointer segment (RFC 6901). */
function pointerSegment(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

/**
 * The environment the injected containers get (existing entries of the same names are replaced): the
 * proxy Service as the apiserver, except for the redirect route, which leaves the address alone.
 */
export function injectedEnv(
  pod: PodLike,
  settings: InjectionSettings,
): Array<{ name: string; value: string }> {
  const env = wantsRedirect(pod)
    ? []
    : [
        { name: "KUBERNETES_SERVICE_HOST", value: settings.proxyHost },
        { name: "KUBERNETES_SERVICE_PORT", value: String(settings.proxyPort) },
        { name: "KUBERNETES_SERVICE_PORT_HTTPS", value: String(settings.proxyPort) },
      ];
  const source = pod.metadata?.annotations?.[SOURCE_ANNOTATION];
  if (source) env.push({ name: SOURCE_ENV, value: source });
  // The proxy reads the annotation from its pod informer; the variable serves a client that sends the
  // header itself, or a proxy that runs without the informer (--pods off).
  const run = pod.metadata?.annotations?.[RUN_ANNOTATION];
  if (run) env.push({ name: RUN_ENV, value: run });
  return env;
}

/**
 * The JSON patch for one opted-in pod: the proxy's address in every (init) container's environment (or,
 * for the redirect route, the redirect init container first of all), the service-account volume's
 * `ca.crt` taken from the bundle ConfigMap instead of `kube-root-ca.crt`, and the injected marker annotation.
 */
export function podInjectionPatch(pod: PodLike, settings: InjectionSettings): JsonPatchOperation[] {
  const patch: JsonPatchOperation[] = [];
  const added = injectedEnv(pod, settings);
  const addedNames = new Set(added.map((entry) => entry.name));
  for (const kind of ["initContainers", "containers"] as const) {
    (pod.spec?.[kind] ?? []).forEach((container, index) => {
      if (added.length === 0) return;
      const kept = (container.env ?? []).filter((entry) => !addedNames.has(entry.name));
      patch.push({
        op: container.env ? "replace" : "add",
        path: `/spec/${kind}/${index}/env`,
        value: [...kept, ...added],
      });
    });
  }
  (pod.spec?.volumes ?? []).forEach((volume, volumeIndex) => {
    (volume.projected?.sources ?? []).forEach((source, sourceIndex) => {
      const configMap = source.configMap;
      if (configMap?.name !== CLUSTER_CA_CONFIGMAP) return;
      if (!(configMap.items ?? []).some((item) => item.path === "ca.crt")) return;
      patch.push({
        op: "replace",
        path: `/spec/volumes/${volumeIndex}/projected/sources/${sourceIndex}/configMap/name`,
        value: settings.caBundleConfigMap,
      });
    });
  });
  const redirect = settings.redirect;
  if (wantsRedirect(pod) && redirect?.proxy) {
    // Last, so the environment patches above still address the pod's own init containers by index.
    const container = redirectContainer({ ...redirect, proxy: redirect.proxy });
    patch.push(
      pod.spec?.initContainers
        ? { op: "add", path: "/spec/initContainers/0", value: container }
        : { op: "add", path: "/spec/initContainers", value: [container] },
    );
  }
  patch.push(annotationPatch(pod, INJECTED_ANNOTATION, "true"));
  return patch;
}
