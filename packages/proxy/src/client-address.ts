/**
 * A client's address, as the proxy keys what it bounds per client (handshake turns and rate, the share of
 * requests in flight) and as pod attribution looks pods up: one spelling per address.
 *
 * In a cluster, the address is the client pod's IP: pods reach the proxy through its Service, and
 * kube-proxy (iptables, IPVS or nftables) DNATs in-cluster traffic to the proxy's pod without SNAT. Pods
 * with `hostNetwork` share their node's IP, and traffic from outside the cluster (a NodePort, a balancer
 * with `externalTrafficPolicy: Cluster`) arrives with a node's IP: those clients share one address.
 * Each IPv6 address is a client of its own, as each pod gets one: a client outside the cluster that holds
 * a whole prefix gets a share per address it uses, and only the proxy-wide bounds hold it.
 */
import { isIP } from "node:net";

/**
 * The canonical text of a connection's remote address, as pod IPs are written in pod status: IPv4-mapped
 * IPv6 (`::ffff:10.0.0.5`, what a dual-stack listener reports for IPv4 clients) becomes `10.0.0.5`, IPv6
 * is lower-case and compressed (RFC 5952), brackets and zone ids (`%eth0`) are dropped. Null when the
 * input is not an IP address.
 */
export function normaliseRemoteAddress(address: string | null | undefined): string | null {
  if (!address) return null;
  const known = normalised.get(address);
  if (known !== undefined) return known;
  const canonical = canonicalAddress(address);
  if (normalised.size >= MAX_NORMALISED) normalised.clear();
  normalised.set(address, canonical);
  return canonical;
}

/**
 * Addresses normalised lately, by the text Node reported: every request of a connection (and of a pod,
 * for attribution) asks again, and parsing costs more than the request's own bookkeeping (an IPv6
 * address builds a URL). Bounded: past it the map starts over.
 */
const normalised = new Map<string, string | null>();
const MAX_NORMALISED = 4096;

function canonicalAddress(address: string): string | null {
  let ip = address.trim().replace(/^\[(.*)\]$/, "$1");
  const zone = ip.indexOf("%");
  if (zone !== -1) ip = ip.slice(0, zone);
  const family = isIP(ip);
  if (family === 4) return ip;
  if (family !== 6) return null;
  // The WHATWG URL parser serialises IPv6 hosts compressed and lower-case, like Go's net.IP.String().
  const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (!mapped) return canonical;
  const high = Number.parseInt(mapped[1] as string, 16);
  const low = Number.parseInt(mapped[2] as string, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/**
 * The key of a connection's client for the per-client bounds: its normalised address, so that one client
 * reported as `10.0.0.5` by one listener and as `::ffff:10.0.0.5` by a dual-stack one is one client.
 * Connections whose address Node cannot tell (a socket already closed) share one key.
 */
export function clientAddressKey(address: string | null | undefined): string {
  return normaliseRemoteAddress(address) ?? "unknown";
}
