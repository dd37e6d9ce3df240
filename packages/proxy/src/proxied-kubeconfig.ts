import { readFileSync } from "node:fs";
import path from "node:path";
import { kubeconfigErrorLine } from "@apisnoop/openapi/kubeconfig-error";
import { dump as dumpYaml, load as loadYaml } from "js-yaml";

/** How clients reach the proxy: reverse (`server` is the proxy) or forward (`proxy-url`, CONNECT). */
export type ClientMode = "reverse" | "forward";

export interface ProxiedKubeconfigOptions {
  /** The kubeconfig the client uses today. */
  from: string;
  /** Context to proxy; default the file's current-context. */
  context?: string;
  /** The proxy's address, `https://127.0.0.1:PORT`. */
  proxyUrl: string;
  mode: ClientMode;
  /** The proxy's CA certificate, PEM: the only CA the client must trust. */
  caPem: string;
}

interface NamedEntry<T> {
  name: string;
  [key: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}

type KubeconfigDocument = {
  clusters?: NamedEntry<Record<string, unknown>>[];
  users?: NamedEntry<Record<string, unknown>>[];
  contexts?: NamedEntry<{ cluster?: string; user?: string; namespace?: string }>[];
  "current-context"?: string;
};

/** User fields that name files; made absolute because the new kubeconfig may live elsewhere. */
const USER_FILE_FIELDS = ["client-certificate", "client-key", "tokenFile"];

/**
 * A kubeconfig with one context that sends the client's traffic through the proxy, credentials kept:
 * - reverse: `server` is the proxy and `certificate-authority-data` is the proxy's CA;
 * - forward: `server` stays, `proxy-url` is the proxy (plain HTTP CONNECT on the same port) and the CA is
 *   the proxy's (inside the tunnel the client sees the proxy's leaf for the apiserver's name).
 * Throws one-line errors for a missing file or context.
 */
export function proxiedKubeconfig(options: ProxiedKubeconfigOptions): string {
  let document: KubeconfigDocument;
  try {
    document = (loadYaml(readFileSync(options.from, "utf8")) ?? {}) as KubeconfigDocument;
  } catch (error) {
    throw new Error(`cannot read kubeconfig ${options.from}: ${kubeconfigErrorLine(error)}`);
  }
  const contextName = options.context ?? document["current-context"];
  if (!contextName) throw new Error(`kubeconfig ${options.from} has no current-context: pass --context`);
  const context = document.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) throw new Error(`kubeconfig ${options.from} has no context '${contextName}'`);
  const cluster = document.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster || typeof cluster.server !== "string") {
    throw new Error(`kubeconfig ${options.from}: context '${contextName}' names no cluster with a server`);
  }
  const user = document.users?.find((u) => u.name === context.user)?.user ?? {};

  const proxy = new URL(options.proxyUrl);
  if (proxy.protocol !== "https:")
    throw new Error(`--proxy must be https://host:port, not ${options.proxyUrl}`);
  const caData = Buffer.from(options.caPem).toString("base64");
  const proxiedCluster: Record<string, unknown> =
    options.mode === "reverse"
      ? // The proxy adds the server's path prefix itself (it knows the upstream).
        { server: `https://${proxy.host}`, "certificate-authority-data": caData }
      : {
          server: cluster.server,
          "certificate-authority-data": caData,
          "proxy-url": `http://${proxy.host}`,
          ...(cluster["tls-server-name"] ? { "tls-server-name": cluster["tls-server-name"] } : {}),
        };

  const baseDir = path.dirname(path.resolve(options.from));
  const proxiedUser: Record<string, unknown> = { ...user };
  for (const field of USER_FILE_FIELDS) {
    const value = proxiedUser[field];
    if (typeof value === "string" && value && !path.isAbsolute(value))
      proxiedUser[field] = path.resolve(baseDir, value);
  }

  const clusterName = context.cluster ?? "cluster";
  const userName = context.user ?? "user";
  const out = {
    apiVersion: "v1",
    kind: "Config",
    preferences: {},
    clusters: [{ name: clusterName, cluster: proxiedCluster }],
    users: [{ name: userName, user: proxiedUser }],
    contexts: [
      {
        name: contextName,
        context: {
          cluster: clusterName,
          user: userName,
          ...(context.namespace ? { namespace: context.namespace } : {}),
        },
      },
    ],
    "current-context": contextName,
  };
  return dumpYaml(out, { lineWidth: -1, noRefs: true });
}
