/**
 * The kubeconfig user's credentials on the proxy's own API calls (the live spec, the CRD watch), applied as
 * client-node's `KubeConfig.applyToHTTPSOptions` applies them: the cluster's CA, skip-verify and
 * tls-server-name; a client certificate; a bearer token, or the in-cluster token file, re-read as it
 * rotates (`TokenFile`); basic auth. Those kinds need nothing of client-node; an exec plugin or another
 * auth provider (oidc, …) is handed to client-node's own KubeConfig, loaded on first use.
 */
import { readFileSync } from "node:fs";
import type https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Cluster, User } from "@kubernetes/client-node/dist/config_types.js";
import { TokenFile } from "./in-cluster";

/** Sets TLS options and the Authorization header of one request of the proxy's own. */
export type Authorize = (options: https.RequestOptions) => Promise<void>;

/**
 * The authorizer of `user` on `cluster`.
 * @param tokenMaxAgeMs how long a token read from the in-cluster token file is used before it is read again
 */
export function authorizer(
  cluster: Cluster,
  user: User | null,
  clientNode: () => Promise<KubeConfig>,
  tokenMaxAgeMs?: number,
): Authorize {
  const tokenFilePath = user?.authProvider?.config?.tokenFile as string | undefined;
  if (user?.exec || (user?.authProvider && !tokenFilePath)) {
    return async (options) => {
      await (await clientNode()).applyToHTTPSOptions(options);
    };
  }
  const tokenFile = tokenFilePath ? new TokenFile(tokenFilePath, tokenMaxAgeMs) : null;
  return async (options) => {
    if (cluster.skipTLSVerify) options.rejectUnauthorized = false;
    if (cluster.tlsServerName) options.servername = cluster.tlsServerName;
    // Read on every call, as client-node does: a pod's projected CA and certificates may be replaced.
    const ca = fileOrData(cluster.caFile, cluster.caData);
    const cert = fileOrData(user?.certFile, user?.certData);
    const key = fileOrData(user?.keyFile, user?.keyData);
    if (ca) options.ca = ca;
    if (cert) options.cert = cert;
    if (key) options.key = key;
    options.headers ??= {};
    const headers = options.headers as Record<string, string>;
    // client-node's order: the token provider first, a literal token over it.
    if (tokenFile) headers.Authorization = `Bearer ${tokenFile.current()}`;
    if (user?.token) headers.Authorization = `Bearer ${user.token}`;
    if (user?.username) options.auth = `${user.username}:${user.password}`;
  };
}

/** Inline base64 data wins over a file, as in client-go and in the upstream's own TLS settings. */
function fileOrData(file: string | undefined, data: string | undefined): Buffer | undefined {
  if (data) return Buffer.from(data, "base64");
  return file ? readFileSync(file) : undefined;
}
