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
  /**
   * Connections one client address's requests hold at once (default: a quarter of `sockets`, at least
   * 1): its next requests wait even while connections are free, so it takes the pool from no one alone.
   */
  socketsPerAddress?: number;
  /** Requests of one client address waiting (default: an eighth of `queued`, at least 1); past it `take` refuses. */
  queuedPerAddress?: number;
}

/** What the admin port shows of a `BoundedUpstreamPool`. */
export interface BoundedPoolStats {
  /** Requests on a connection now. */
  active: number;
  /** Requests waiting for one. */
  queued: number;
  /** Requests sent over the pool since start. */
  sent: number;
  /** Requests refused because the queue, or their address's share of it, was full. */
  refused: number;
  /** Requests of those refused that went another way instead (`overflowed`). */
  overflows: number;
}

/** Which bound a `take` met: the pool's whole queue, or the client address's share of it. */
export type PoolRefusal = "queue" | "address queue";

/** What one client address holds of a pool. */
interface AddressShare {
  active: number;
  queued: number;
}

/**
 * A request's place in a `BoundedUpstreamPool`: a connection (`whenTurn` runs at once) or a place in the
 * queue (it runs when a connection is free for the request's address). Given back exactly once, with
 * `release`: when its upstream request closes, or when its client leaves before its turn.
 */
export class PoolPlace {
  /** Waiting for a connection, holding one, or given back. */
  state: "queued" | "active" | "released";
  private send: (() => void) | null = null;

  constructor(
    private readonly pool: BoundedUpstreamPool,
    readonly address: string,
    active: boolean,
  ) {
    this.state = active ? "active" : "queued";
  }

  /** Runs `send` once the request holds a connection: at once if it does, else when it gets one. */
  whenTurn(send: () => void): void {
    if (this.state === "active") send();
    else if (this.state === "queued") this.send = send;
  }

  /** Gives the place back (a second call does nothing); the next request waiting may go. */
  release(): void {
    if (this.state === "released") return;
    const was = this.state;
    this.state = "released";
    this.send = null;
    this.pool.released(this, was);
  }

  /** The pool gave this request a connection. */
  started(): void {
    this.state = "active";
    const send = this.send;
    this.send = null;
    send?.();
  }
}

/**
 * An HTTP/1.1 keep-alive pool to the upstream with a bound on its connections and on the requests
 * waiting for one: what it holds cannot grow with what clients send. A request `take`s a place (a
 * connection, else a queue slot) before it is sent and gives it back once its upstream request closes.
 *
 * Each client address (`clientAddressKey`) gets a share: at most `socketsPerAddress` of the connections
 * and `queuedPerAddress` of the queue. The pool, not the agent, decides who goes next: a freed connection
 * goes to the longest-waiting request whose address holds less than its share, so a client that holds
 * its connections for long (a slow reader of a large answer) delays its own requests only, and it takes
 * `sockets / socketsPerAddress` addresses to hold them all.
 */
export class BoundedUpstreamPool {
  /** The agent requests go over; the pool never gives it more than `sockets` requests at once. */
  readonly agent: https.Agent;
  private readonly socketsPerAddress: number;
  private readonly queuedPerAddress: number;
  private active = 0;
  /** Places waiting for a connection, in the order they came. */
  private readonly waiting: PoolPlace[] = [];
  private readonly byAddress = new Map<string, AddressShare>();
  private sent = 0;
  private refused = 0;
  private overflows = 0;

  constructor(
    upstream: Upstream,
    private readonly limits: BoundedPoolLimits,
  ) {
    this.agent = upstreamAgent(upstream, false, limits.sockets);
    this.socketsPerAddress = limits.socketsPerAddress ?? Math.max(1, Math.floor(limits.sockets / 4));
    this.queuedPerAddress = limits.queuedPerAddress ?? Math.max(1, Math.floor(limits.queued / 8));
  }

  /**
   * Takes a place for one request of client `address`: a connection if one is free within the address's
   * share, else a queue slot; the bound met (counted) when the queue or the address's share of it is full.
   */
  take(address: string): PoolPlace | PoolRefusal {
    const share = this.byAddress.get(address) ?? { active: 0, queued: 0 };
    if (this.active < this.limits.sockets && share.active < this.socketsPerAddress) {
      this.byAddress.set(address, share);
      this.start(share);
      return new PoolPlace(this, address, true);
    }
    if (share.queued >= this.queuedPerAddress) {
      this.refused++;
      return "address queue";
    }
    if (this.waiting.length >= this.limits.queued) {
      this.refused++;
      return "queue";
    }
    this.byAddress.set(address, share);
    share.queued++;
    const place = new PoolPlace(this, address, false);
    this.waiting.push(place);
    return place;
  }

  /** A place was given back (`PoolPlace.release`): its connection goes to the next request that may have it. */
  released(place: PoolPlace, was: "queued" | "active"): void {
    const share = this.byAddress.get(place.address);
    if (!share) return;
    if (was === "queued") {
      const index = this.waiting.indexOf(place);
      if (index !== -1) this.waiting.splice(index, 1);
      share.queued--;
    } else {
      share.active--;
      this.active--;
    }
    if (share.active === 0 && share.queued === 0) this.byAddress.delete(place.address);
    if (was === "active") this.next();
  }

  /** Counts a request `take` refused that the caller sent another way. */
  overflowed(): void {
    this.overflows++;
  }

  /** Requests on a socket and waiting now, and counts since start (the pool's metrics). */
  stats(): BoundedPoolStats {
    const { active, sent, refused, overflows } = this;
    return { active, queued: this.waiting.length, sent, refused, overflows };
  }

  /** Closes the pool's sockets, at the proxy's shutdown. */
  destroy(): void {
    this.agent.destroy();
  }

  private start(share: AddressShare): void {
    share.active++;
    this.active++;
    this.sent++;
  }

  /** Gives free connections to the longest-waiting requests whose address is below its share. */
  private next(): void {
    for (let i = 0; i < this.waiting.length && this.active < this.limits.sockets; ) {
      const place = this.waiting[i] as PoolPlace;
      const share = this.byAddress.get(place.address);
      if (!share || share.active >= this.socketsPerAddress) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      share.queued--;
      this.start(share);
      place.started();
    }
  }
}

function isIpAddress(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}
