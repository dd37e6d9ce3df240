import { type Authority, canonicalHost, formatAuthority, parseAuthority } from "./authority";

/** What the proxy does with a CONNECT. */
export type ConnectDecision =
  /** Terminate TLS with a leaf for the name and forward what comes inside to the apiserver. */
  | { action: "intercept"; target: Authority }
  /** Pass bytes to `target` untouched: only for an authority the operator allowed by name. */
  | { action: "tunnel"; target: Authority }
  /** Answer with a Kubernetes Status of this code; nothing is connected. */
  | { action: "refuse"; code: 400 | 403; message: string };

export interface ConnectPolicyOptions {
  /** The apiserver's own `host:port`, from the kubeconfig's `server`. */
  upstream: Authority;
  /**
   * Other names clients use for the apiserver (`kubernetes.default.svc`, `tls-server-name`,
   * `$KUBERNETES_SERVICE_HOST`): decrypted whatever the port, since all they can reach is the apiserver.
   */
  apiserverNames: Iterable<string>;
  /** Pass-through tunnels the operator listed (`--allow-tunnel HOST:PORT`), exact host and port. */
  allowTunnel?: Iterable<Authority>;
}

/**
 * Decides every CONNECT, failing closed: the proxy relays only to the Kubernetes API it fronts and to
 * the authorities listed with `--allow-tunnel`. Everything else — other ports of the apiserver's host,
 * loopback services, the cloud metadata address, any name — is refused with 403 before a socket is
 * opened, so a pod that can reach the proxy cannot use it to reach what its NetworkPolicy forbids.
 * Hosts are compared in one spelling (`127.1` is `127.0.0.1`), never as written.
 */
export class ConnectPolicy {
  private readonly upstream: string;
  private readonly names = new Set<string>();
  private readonly tunnels = new Set<string>();

  constructor(options: ConnectPolicyOptions) {
    this.upstream = formatAuthority(options.upstream);
    for (const name of options.apiserverNames) {
      const host = canonicalHost(name.includes(":") && !name.startsWith("[") ? `[${name}]` : name);
      if (host !== null) this.names.add(host);
    }
    for (const allowed of options.allowTunnel ?? []) this.tunnels.add(formatAuthority(allowed));
  }

  /** The decision for a CONNECT's request target. */
  decide(target: string): ConnectDecision {
    const authority = parseAuthority(target);
    if (authority === null) {
      return {
        action: "refuse",
        code: 400,
        message: "apisnoop proxy: CONNECT needs host:port (a DNS name or IP address and a port 1-65535)",
      };
    }
    const written = formatAuthority(authority);
    if (written === this.upstream || this.names.has(authority.host)) {
      return { action: "intercept", target: authority };
    }
    if (this.tunnels.has(written)) return { action: "tunnel", target: authority };
    return {
      action: "refuse",
      code: 403,
      message: `apisnoop proxy: CONNECT to ${written} refused: only the Kubernetes API is reachable through this proxy (an operator can allow more with --allow-tunnel HOST:PORT)`,
    };
  }
}

/** Reads an `--allow-tunnel HOST:PORT` value; throws a one-line error when it is not one. */
export function parseAllowTunnel(value: string): Authority {
  const authority = parseAuthority(value);
  if (authority === null) {
    throw new Error(`'${value}' is not HOST:PORT (a DNS name, IPv4 or [IPv6] address and a port 1-65535)`);
  }
  return authority;
}

/**
 * Why a request's target cannot be served, or null when it is origin-form (`/api/v1/...`), the only form
 * a client talking to an apiserver sends. Absolute-form (`GET http://host/`) asks for a forward proxy:
 * refused with 403, never fetched; anything else (authority-form outside CONNECT, `*`, garbage) is a 400.
 */
export function requestTargetProblem(
  target: string | undefined,
): { code: 400 | 403; message: string } | null {
  if (target?.startsWith("/")) return null;
  if (target !== undefined && /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(target)) {
    return {
      code: 403,
      message:
        "apisnoop proxy: absolute-form requests are refused: this is no general forward proxy, only the Kubernetes API is reachable",
    };
  }
  return { code: 400, message: "apisnoop proxy: the request target must be a path (origin-form)" };
}
