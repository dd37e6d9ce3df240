/**
 * The upstream in a pod: the pod's service account (its token and the cluster CA mounted under
 * /var/run/secrets/kubernetes.io/serviceaccount) and the apiserver the kubelet names in
 * KUBERNETES_SERVICE_HOST/PORT — what client-go's `rest.InClusterConfig` and client-node's
 * `loadFromCluster` read, with the names client-node gives them, read without loading client-node.
 */
import { existsSync, readFileSync } from "node:fs";
import { isIPv6 } from "node:net";
import type { Cluster, Context, User } from "@kubernetes/client-node/dist/config_types.js";
import type { KubeconfigView } from "./kubeconfig-file";

/** Where the kubelet mounts a pod's service account. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** client-node's names for the in-cluster cluster, user and context. */
export const IN_CLUSTER = { cluster: "inCluster", user: "inClusterUser", context: "inClusterContext" };

/**
 * The service account's files. `prefix` is prepended to the standard path, as client-node's
 * `loadFromCluster(pathPrefix)`: for tests on a machine that is not a pod; the proxy itself always reads the
 * standard path.
 */
export function serviceAccountFiles(prefix = ""): { token: string; ca: string } {
  return { token: `${prefix}${SERVICE_ACCOUNT_DIR}/token`, ca: `${prefix}${SERVICE_ACCOUNT_DIR}/ca.crt` };
}

/** Whether this process runs in a pod with a service-account token (client-node's test: the token file). */
export function inCluster(prefix = ""): boolean {
  return existsSync(serviceAccountFiles(prefix).token);
}

/** The in-cluster upstream as a kubeconfig with one context. */
export class InClusterConfig implements KubeconfigView {
  private readonly cluster: Cluster;
  private readonly user: User;
  private readonly context: Context;

  /** @throws Error (one line) when KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT is not set. */
  constructor(prefix = "", env: NodeJS.ProcessEnv = process.env) {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) {
      throw new Error(
        "a service-account token is mounted but KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT is not set",
      );
    }
    // client-node's scheme rule (plain HTTP on the usual insecure ports), so both name the same server.
    const scheme = port === "80" || port === "8080" || port === "8001" ? "http" : "https";
    const files = serviceAccountFiles(prefix);
    this.cluster = {
      name: IN_CLUSTER.cluster,
      caFile: files.ca,
      server: `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`,
      skipTLSVerify: false,
    };
    this.user = {
      name: IN_CLUSTER.user,
      authProvider: { name: "tokenFile", config: { tokenFile: files.token } },
    };
    this.context = { name: IN_CLUSTER.context, cluster: IN_CLUSTER.cluster, user: IN_CLUSTER.user };
  }

  /** The one context, by its name; null for any other. */
  getContextObject(name: string): Context | null {
    return name === this.context.name ? this.context : null;
  }

  /** Nothing to switch: the service account's context is the only one. */
  setCurrentContext(): void {
    // One context only: resolveUpstream asks getContextObject first, so no other name reaches here.
  }

  /** The apiserver of `KUBERNETES_SERVICE_HOST`, trusted by the service account's CA. */
  getCurrentCluster(): Cluster {
    return this.cluster;
  }

  /** The service account, by its token file (re-read as it rotates). */
  getCurrentUser(): User {
    return this.user;
  }
}

/**
 * A bound service-account token, re-read as client-go's `NewCachedFileTokenSource` does: the kubelet
 * rotates the file (hourly by default, the token living longer), so it is read again once it is older
 * than `maxAgeMs` (a minute, client-go's period); a failed re-read keeps the token read before, and only a
 * first read that fails is an error.
 */
export class TokenFile {
  private token: string | null = null;
  private readAt = 0;

  constructor(
    readonly file: string,
    private readonly maxAgeMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The current token, trimmed of surrounding whitespace.
   * @throws Error (one line, without the token) when the file has never been read successfully or is empty.
   */
  current(): string {
    if (this.token === null || this.now() - this.readAt >= this.maxAgeMs) {
      try {
        const token = readFileSync(this.file, "utf8").trim();
        if (!token) throw new Error("it is empty");
        this.token = token;
        this.readAt = this.now();
      } catch (error) {
        if (this.token === null)
          throw new Error(`cannot read the token file ${this.file}: ${(error as Error).message}`);
        // As client-go: keep the token in hand; the kubelet writes the file again well before it expires.
      }
    }
    return this.token;
  }
}
