import { readFileSync } from "node:fs";
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeconfigFile, type KubeconfigView } from "./kubeconfig-file";

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
   * The kubeconfig and context the upstream came from, as client-node's KubeConfig, for the proxy's own
   * API calls (it applies every kind of credential): loaded on first use, since only a live spec needs it.
   */
  kubeConfig: () => Promise<KubeConfig>;
}

/** Where to read the upstream from: a kubeconfig file (else $KUBECONFIG, ~/.kube/config, in-cluster). */
export interface UpstreamSource {
  kubeconfig?: string;
  context?: string;
}

/**
 * Resolves the upstream apiserver from a kubeconfig and context, or from the in-cluster service account
 * when there is no kubeconfig. A kubeconfig file given by name is read without client-node (start-up
 * time, `KubeconfigFile`); the defaults ($KUBECONFIG's list, ~/.kube/config, in-cluster) are found by
 * client-node's loadFromDefault. Throws one-line errors.
 */
export async function resolveUpstream(source: UpstreamSource = {}): Promise<Upstream> {
  let kubeConfig: KubeconfigView;
  let loaded: Promise<KubeConfig> | null = null;
  try {
    if (source.kubeconfig) kubeConfig = KubeconfigFile.load(source.kubeconfig);
    else {
      const defaults = new (await import("./client-node-config")).KubeConfig();
      defaults.loadFromDefault();
      kubeConfig = defaults;
      loaded = Promise.resolve(defaults);
    }
  } catch (error) {
    throw new Error(
      `cannot load kubeconfig ${source.kubeconfig ?? "(default)"}: ${(error as Error).message}`,
    );
  }
  if (source.context) {
    if (!kubeConfig.getContextObject(source.context)) {
      throw new Error(`kubeconfig ${source.kubeconfig ?? "(default)"} has no context '${source.context}'`);
    }
    kubeConfig.setCurrentContext(source.context);
  }
  const clientNodeConfig = async (): Promise<KubeConfig> => {
    const config = new (await import("./client-node-config")).KubeConfig();
    config.loadFromFile(source.kubeconfig as string);
    if (source.context) config.setCurrentContext(source.context);
    return config;
  };
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error(`kubeconfig ${source.kubeconfig ?? "(default)"} has no current cluster`);
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
    kubeConfig: () => {
      loaded ??= clientNodeConfig();
      return loaded;
    },
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
 * A keep-alive agent to the upstream. `lifo` reuses the warmest connection; no socket limit because watches
 * hold theirs for minutes.
 */
export function upstreamAgent(upstream: Upstream, withClientCertificate: boolean): https.Agent {
  return new https.Agent({
    ...upstreamTlsOptions(upstream, withClientCertificate),
    keepAlive: true,
    keepAliveMsecs: 30_000,
    noDelay: true,
    scheduling: "lifo",
    maxFreeSockets: 256,
  });
}

function isIpAddress(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}
