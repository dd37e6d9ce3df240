import { homedir, hostname } from "node:os";
import path from "node:path";
import { type Addon, AddonChain } from "./addon-chain";
import { defaultAddons, type HitSink, type PodLookup, type ProxyPlace } from "./addons";
import { createAdminServer, listenOn } from "./admin-server";
import type { Authority } from "./authority";
import { CaptureBudget, DEFAULT_BODY_CAP } from "./body-capture";
import { CertificateAuthority, IN_CLUSTER_HOSTS } from "./certificate-authority";
import { ConnectPolicy } from "./connect-policy";
import { FlowLifecycle } from "./flow-lifecycle";
import { HitsFile } from "./hits-file";
import type { ConnectionLimits } from "./limits";
import { ProxyMetrics } from "./metrics";
import { PodDirectory } from "./pod-directory";
import { type DrainSummary, ProxyServer } from "./proxy-server";
import { SpecRefresher } from "./spec-refresher";
import { Uplink } from "./uplink/uplink";
import { resolveUpstream, type Upstream } from "./upstream";
import type { RetryLimits } from "./upstream-retry";
import type { UpstreamSessionLimits } from "./upstream-sessions";

/** Where the CA lives unless `--ca-dir` says otherwise. */
export const DEFAULT_CA_DIR = path.join(homedir(), ".apisnoop", "ca");

/** A `host:port` to listen on. */
export interface ListenAddress {
  host: string;
  port: number;
}

export interface ProxyOptions {
  /** Kubeconfig of the upstream; default $KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfig?: string;
  context?: string;
  listen: ListenAddress;
  /** The admin port (/healthz, /metrics); null: none. */
  adminListen: ListenAddress | null;
  /** "live" (default), a file or an http(s) URL. */
  spec?: string;
  /** Reload a live spec this often besides on CRD changes (ms). Default 10 minutes. */
  specRefreshIntervalMs?: number;
  /** Append hits to this JSON-lines file. */
  out?: string;
  caDir?: string;
  /** Deliver hits to the dashboard's ingest namespace, losslessly through a spool. */
  uplink?: ProxyUplinkOptions | null;
  /**
   * Attribute hits to the pod behind each client address with a pod informer (in a cluster: needs list and
   * watch on pods). A PodLookup is used as given (tests).
   */
  pods?: "informer" | "informer-if-allowed" | PodLookup | null;
  /** Bodies above this many bytes are counted without field analysis (default 2 MiB); 0 turns analysis off. */
  bodyCap?: number;
  /** Response bodies read per endpoint and source each minute (default 20; 0: every one). */
  responseSamples?: number;
  /**
   * The in-cluster apiserver's service address (`$KUBERNETES_SERVICE_HOST` in a pod): clients that use it
   * get a leaf for it, and forward-mode CONNECTs to it are decrypted. The caller reads the environment.
   */
  serviceHost?: string | null;
  /**
   * Authorities a forward-mode CONNECT may reach as a plain tunnel besides the Kubernetes API (`--allow-tunnel`).
   * Default none: every other CONNECT and every absolute-form request is refused with 403.
   */
  allowTunnel?: Authority[];
  /** More names clients reach the proxy by (its Service name, a load balancer's): added to its certificate. */
  tlsNames?: string[];
  /**
   * The cluster every hit is counted under (`--cluster`); default: the kubeconfig's cluster name, or the
   * apiserver's host in a pod (where client-node names the cluster `inCluster`).
   */
  cluster?: string;
  /** The run (a CI run id) hits are counted under unless a header or a pod annotation names one (`--run`). */
  run?: string;
  /** Bounds on connections and timeouts (default: DEFAULT_LIMITS). */
  limits?: Partial<ConnectionLimits>;
  /** Bounds on the upstream sessions and pools (default: DEFAULT_UPSTREAM_SESSION_LIMITS). */
  upstreamSessions?: Partial<UpstreamSessionLimits>;
  /** Bounds on the bodies held to retry requests the apiserver did not process (default: DEFAULT_RETRY_LIMITS). */
  upstreamRetries?: Partial<RetryLimits>;
  /** Replaces the default addon chain (tests). */
  addons?: () => Addon[];
  /** Operational messages; default: none. Never given headers or bodies. */
  log?: (line: string) => void;
}

/** Where and how the proxy ships hits to the web app. */
export interface ProxyUplinkOptions {
  /** The web app's base URL. */
  url: string;
  /** The shared ingest token: kept in memory only. */
  token: string;
  /** Unacknowledged batches and the hit journal; one proxy per directory. */
  spoolDir: string;
  /** Names the proxy to the web app (default: the host name). */
  proxyId?: string;
  maxSpoolBytes?: number;
  flushMs?: number;
}

/** A running proxy. */
export interface RunningProxy {
  /** `https://host:port` of the proxy port (both modes). */
  url: string;
  /** `http://host:port` of the admin port, when there is one. */
  adminUrl: string | null;
  upstream: Upstream;
  /** The cluster and default run every hit is counted under. */
  place: ProxyPlace;
  ca: CertificateAuthority;
  metrics: ProxyMetrics;
  spec: SpecRefresher;
  /** The delivery uplink, when one was configured. */
  uplink: Uplink | null;
  /**
   * Graceful stop, for SIGTERM: /healthz turns 503, the port stops accepting, requests in flight finish
   * (answered with `Connection: close`), watches end between two events so clients re-watch elsewhere,
   * and a request sent on an idle connection as the drain begins is answered, not reset (ProxyServer's
   * `drain`); whatever is open after `timeoutMs` is closed. Then call `close()`, which flushes the hits
   * file and the uplink.
   */
  drain(timeoutMs: number): Promise<DrainSummary>;
  close(): Promise<void>;
}

/**
 * The cluster name hits carry when `--cluster` gives none: the kubeconfig's name for the current cluster,
 * or in a pod (no kubeconfig: client-node calls the cluster `inCluster`) the apiserver's host.
 */
export function defaultClusterName(upstream: Upstream): string {
  const name = upstream.clusterName;
  return name && name !== "inCluster" ? name : upstream.host;
}

/** Parses `host:port`, `[v6]:port` or `:port` (host 127.0.0.1). Throws a one-line error otherwise. */
export function parseListenAddress(value: string): ListenAddress {
  const found = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = Number(found?.[3]);
  if (!found || port > 65535) throw new Error(`'${value}' is not host:port`);
  return { host: found[1] ?? (found[2] || "127.0.0.1"), port };
}

/**
 * Starts the proxy: opens the CA and issues the leaves for every expected host, loads the spec, then
 * listens. Resolves once it serves; every failure before that rejects with a one-line message.
 */
export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  const log = options.log ?? (() => {});
  const upstream = await resolveUpstream({ kubeconfig: options.kubeconfig, context: options.context });
  const serviceHost = options.serviceHost ?? null;
  const hosts = expectedHosts(upstream, options.listen.host, serviceHost, options.tlsNames ?? []);
  const caDir = options.caDir ?? DEFAULT_CA_DIR;
  const ca = await CertificateAuthority.open(caDir, { permit: hosts });
  if (ca.extendedWith.length > 0) {
    log(
      `CA in ${caDir} may now also sign for ${ca.extendedWith.join(", ")} (name constraints): kubeconfigs written before trust the earlier certificate; write them again with apisnoop kubeconfig`,
    );
  }
  if (!ca.permittedNames) {
    log(`CA in ${caDir} has no name constraints (made before them, or brought): it is used as it is`);
  }
  const defaultLeaf = await ca.leafFor(hosts);
  const metrics = new ProxyMetrics();

  const spec = new SpecRefresher({
    source: options.spec ?? "live",
    upstream,
    intervalMs: options.specRefreshIntervalMs ?? 10 * 60_000,
    onLoaded: ({ operations, release, origin }) => {
      metrics.specOperations = operations;
      metrics.countSpecRefresh("ok");
      log(`spec loaded from ${origin}: ${operations} operations${release ? ` (release ${release})` : ""}`);
    },
    onError: (message) => {
      metrics.countSpecRefresh("error");
      log(message);
    },
  });
  await spec.start();
  const podDirectory = await startPodDirectory(options, upstream, log);
  metrics.podDirectory = podDirectory;
  if (podDirectory) log(`pod attribution: ${podDirectory.size} pod addresses known`);

  const hits = options.out
    ? new HitsFile(options.out, (error) => {
        metrics.countAnalysisFailure("record", "write");
        log(`cannot write hits to ${options.out}: ${error.message}`);
      })
    : null;
  const uplink = options.uplink
    ? new Uplink({
        url: options.uplink.url,
        token: options.uplink.token,
        proxyId: options.uplink.proxyId ?? hostname(),
        release: () => spec.current()?.catalog.release ?? null,
        spoolDir: options.uplink.spoolDir,
        maxSpoolBytes: options.uplink.maxSpoolBytes,
        flushMs: options.uplink.flushMs,
        log,
      })
    : null;
  metrics.uplink = uplink;
  const bodyCap = options.bodyCap ?? DEFAULT_BODY_CAP;
  const place: ProxyPlace = {
    cluster: options.cluster || defaultClusterName(upstream),
    run: options.run || null,
  };
  const sinks: HitSink[] = [...(uplink ? [uplink] : []), ...(hits ? [hits] : [])];
  const addons = options.addons
    ? options.addons()
    : defaultAddons({
        capture: bodyCap > 0 ? new CaptureBudget(bodyCap) : null,
        pods: podDirectory ?? (typeof options.pods === "object" ? options.pods : null),
        place,
        responseSamples: options.responseSamples,
        hits: sinks,
      });
  const chain = new AddonChain(addons, (addon, hook, error) => {
    metrics.countAnalysisFailure(addon.name, hook);
    log(`addon ${addon.name} failed in ${hook}: ${(error as Error)?.message ?? error}`);
  });

  const server = new ProxyServer({
    upstream,
    defaultLeaf,
    flows: new FlowLifecycle(chain, metrics, () => spec.current()),
    metrics,
    connectPolicy: new ConnectPolicy({
      upstream: { host: upstream.host, port: upstream.port },
      apiserverNames: apiserverNames(upstream, serviceHost),
      allowTunnel: options.allowTunnel ?? [],
    }),
    limits: options.limits,
    upstreamSessions: options.upstreamSessions,
    upstreamRetries: options.upstreamRetries,
    log,
  });
  let serving = false;
  const address = await server.listen(options.listen.host, options.listen.port);
  const admin = options.adminListen ? createAdminServer(metrics, () => serving, ca.certificatePem) : null;
  const adminAddress =
    admin && options.adminListen
      ? await listenOn(admin, options.adminListen.host, options.adminListen.port)
      : null;
  serving = true;

  return {
    url: `https://${formatHost(address.address)}:${address.port}`,
    adminUrl: adminAddress ? `http://${formatHost(adminAddress.address)}:${adminAddress.port}` : null,
    upstream,
    place,
    ca,
    metrics,
    spec,
    uplink,
    async drain(timeoutMs) {
      serving = false;
      metrics.draining = true;
      return server.drain(timeoutMs);
    },
    async close() {
      spec.stop();
      podDirectory?.stop();
      admin?.closeAllConnections();
      await Promise.all([
        server.close(),
        new Promise<void>((resolve) => (admin ? admin.close(() => resolve()) : resolve())),
      ]);
      // Flows that ended with the connections run their `done` hooks one turn later: let them record.
      await new Promise((resolve) => setImmediate(resolve));
      await Promise.all([hits?.close(), uplink?.close()]);
    },
  };
}

/**
 * The pod informer when asked for: "informer" fails the start when pods cannot be listed;
 * "informer-if-allowed" (in a cluster by default) goes on without pod attribution and says why.
 */
async function startPodDirectory(
  options: ProxyOptions,
  upstream: Upstream,
  log: (line: string) => void,
): Promise<PodDirectory | null> {
  if (options.pods !== "informer" && options.pods !== "informer-if-allowed") return null;
  try {
    return await PodDirectory.start({ upstream, log });
  } catch (error) {
    if (options.pods === "informer") throw error;
    log(
      `pod attribution off: ${(error as Error).message} (grant list and watch on pods to attribute hits to pods)`,
    );
    return null;
  }
}

/**
 * Every name a client may use for the proxy or the apiserver behind it: loopback, the listen host, the
 * upstream host and `tls-server-name`, `kubernetes.default.svc` and its variants, the in-cluster service
 * address (`serviceHost`). One leaf covers them all; it is issued at start-up, never during a handshake.
 */
export function expectedHosts(
  upstream: Upstream,
  listenHost: string,
  serviceHost: string | null = null,
  tlsNames: readonly string[] = [],
): string[] {
  const hosts = ["127.0.0.1", "localhost", "::1", ...IN_CLUSTER_HOSTS, hostname()];
  for (const extra of [upstream.host, upstream.serverName, listenHost, serviceHost, ...tlsNames]) {
    if (extra && extra !== "0.0.0.0" && extra !== "::") hosts.push(extra);
  }
  // SNI names are compared in lower case (RFC 6066: case-insensitive, as DNS).
  return [...new Set(hosts.map((host) => host.toLowerCase()))];
}

/**
 * Names whose CONNECT tunnels are decrypted in forward mode (besides the upstream's own host:port): the
 * names in-cluster clients use for the apiserver. Every other CONNECT is refused unless allowed by name.
 */
function apiserverNames(upstream: Upstream, serviceHost: string | null): string[] {
  const hosts = [...IN_CLUSTER_HOSTS];
  if (upstream.serverName) hosts.push(upstream.serverName);
  if (serviceHost) hosts.push(serviceHost);
  return hosts;
}

function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}
