import { readFileSync } from "node:fs";
import https from "node:https";
import { loadKubeconfig, type UpstreamSource } from "./kubeconfig-source";
import { type Authorize, authorizer } from "./upstream-credentials";

export type { UpstreamSource } from "./kubeconfig-source";

/** The kube-apiserver the proxy forwards to, and how to reach it over TLS. */
export interface Upstream {
  /** The kubeconfig's `server`, e.g. `https://127.0.0.1:6443`. */
  server: string;
  host: string;
  port: number;
  /** `host:port` (port omitted when 443), the `Host` header upstream requests carry. */
  authority: string;
  /** Path prefix of `server` (`https://host/k8s` -> `/k8s`), "" for none. */
  basePath: string;
  /** SNI and certificate name to verify, from `tls-server-name` (else the host). */
  serverName: string | undefined;
  /** Cluster CA bundle; undefined: the system roots. */
  ca: Buffer | undefined;
  rejectUnauthorized: boolean;
  /** The kubeconfig user's client certificate, presented upstream for clients that bring no token. */
  clientCertificate: { cert: Buffer; key: Buffer } | null;
  /** The kubeconfig's name for the cluster (client-node calls the in-cluster one `inCluster`). */
  clusterName: string;
  /**
   * Applies the kubeconfig user's TLS settings and credentials to one of the proxy's own API calls (live
   * spec, CRD watch); a rotating in-cluster token is read again as client-go reads it.
   */
  authorize: Authorize;
}

/**
 * Resolves the upstream apiserver from a kubeconfig and context, or from the in-cluster service account
 * when there is no kubeconfig (`loadKubeconfig`: client-node's order, without loading client-node).
 * Throws one-line errors.
 */
export async function resolveUpstream(source: UpstreamSource = {}): Promise<Upstream> {
  const loaded = loadKubeconfig(source);
  const kubeConfig = loaded.view;
  const label = loaded.label;
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error(`kubeconfig ${label} has no current cluster`);
  const url = new URL(cluster.server);
  if (url.protocol !== "https:")
    throw new Error(`upstream ${cluster.server} is not https: apisnoop proxies TLS apiservers`);
  const user = kubeConfig.getCurrentUser();
  const port = url.port ? Number(url.port) : 443;
  const ca = cluster.caData
    ? Buffer.from(cluster.caData, "base64")
    : cluster.caFile
      ? readFileSync(cluster.caFile)
      : undefined;
  const cert = user?.certData
    ? Buffer.from(user.certData, "base64")
    : user?.certFile
      ? readFileSync(user.certFile)
      : null;
  const key = user?.keyData
    ? Buffer.from(user.keyData, "base64")
    : user?.keyFile
      ? readFileSync(user.keyFile)
      : null;
  return {
    server: cluster.server,
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port,
    authority: port === 443 ? url.host.replace(/:443$/, "") : url.host,
    basePath: url.pathname.replace(/\/+$/, ""),
    serverName: cluster.tlsServerName,
    ca,
    rejectUnauthorized: !cluster.skipTLSVerify,
    clientCertificate: cert && key ? { cert, key } : null,
    clusterName: cluster.name,
    authorize: authorizer(cluster, user, loaded.clientNode, source.tokenMaxAgeMs),
  };
}

/** TLS options for connections to the upstream; with the client certificate only when asked. */
export function upstreamTlsOptions(upstream: Upstream, withClientCertificate: boolean): https.AgentOptions {
  const options: https.AgentOptions = {
    ca: upstream.ca,
    rejectUnauthorized: upstream.rejectUnauthorized,
    servername: upstream.serverName ?? (isIpAddress(upstream.host) ? undefined : upstream.host),
    ALPNProtocols: ["http/1.1"],
  };
  if (withClientCertificate && upstream.clientCertificate) {
    options.cert = upstream.clientCertificate.cert;
    options.key = upstream.clientCertificate.key;
  }
  return options;
}

/**
 * A keep-alive agent to the upstream. `lifo` reuses the warmest connection. No socket limit by default:
 * watches hold theirs for minutes, and the proxy's requests in flight (`maxRequestsInFlight`) bound them.
 */
export function upstreamAgent(
  upstream: Upstream,
  withClientCertificate: boolean,
  maxSockets = Number.POSITIVE_INFINITY,
): https.Agent {
  return new https.Agent({
    ...upstreamTlsOptions(upstream, withClientCertificate),
    keepAlive: true,
    keepAliveMsecs: 30_000,
    noDelay: true,
    scheduling: "lifo",
    maxFreeSockets: Math.min(256, maxSockets),
    ...(Number.isFinite(maxSockets) ? { maxSockets, maxTotalSockets: maxSockets } : {}),
  });
}

/** Bounds of a `BoundedUpstreamPool`. */
export interface BoundedPoolLimits {
  /** Connections to the upstream at once; a request past them waits for one. */
  sockets: number;
  /** Requests waiting for a connection; past it `take` refuses. */
  queued: number;
}

/** What the admin port shows of a `BoundedUpstreamPool`. */
export interface BoundedPoolStats {
  /** Requests on a connection now. */
  active: number;
  /** Requests waiting for one. */
  queued: number;
  /** Requests sent over the pool since start. */
  sent: number;
  /** Requests refused because every connection and queue slot was taken. */
  refused: number;
}

/**
 * An HTTP/1.1 keep-alive pool to the upstream with a bound on its connections and on the requests
 * waiting for one: what it holds cannot grow with what clients send. A request `take`s a place (a
 * connection, else a queue slot) before it is sent and gives it back with `release` once its upstream
 * request closes; Node's agent hands each freed connection to the next request waiting.
 */
export class BoundedUpstreamPool {
  /** The agent requests go over (`maxSockets` is the socket bound, its queue the rest). */
  readonly agent: https.Agent;
  private inFlight = 0;
  private sent = 0;
  private refused = 0;

  constructor(
    upstream: Upstream,
    private readonly limits: BoundedPoolLimits,
  ) {
    this.agent = upstreamAgent(upstream, false, limits.sockets);
  }

  /** Takes a place for one request; false (counted) when every connection and queue slot is taken. */
  take(): boolean {
    if (this.inFlight >= this.limits.sockets + this.limits.queued) {
      this.refused++;
      return false;
    }
    this.inFlight++;
    this.sent++;
    return true;
  }

  /** Gives back the place a request took. */
  release(): void {
    this.inFlight--;
  }

  /** Requests on a socket and waiting now, and counts since start (the pool's metrics). */
  stats(): BoundedPoolStats {
    const active = Math.min(this.inFlight, this.limits.sockets);
    return { active, queued: this.inFlight - active, sent: this.sent, refused: this.refused };
  }

  /** Closes the pool's sockets, at the proxy's shutdown. */
  destroy(): void {
    this.agent.destroy();
  }
}

function isIpAddress(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}
