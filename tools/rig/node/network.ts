/**
 * The node's network namespace and its one link to the host, made and removed with iproute2's `ip`.
 * Deleting the namespace removes everything the cluster made in it: the pods' bridge and veths, kube-proxy's
 * iptables chains, conntrack entries, and the host's end of the link.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { SERVICE_CIDR } from "../config";
import { type NodeNetwork, nodeNetwork } from "./config";

function ip(args: string[]): string {
  try {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? "").trim();
    throw new Error(`ip ${args.join(" ")} failed: ${stderr || (error as Error).message}`);
  }
}

/** `/run/netns/<name>`: what `nsenter --net=` enters. */
export function netnsPath(network: Pick<NodeNetwork, "netns">): string {
  return `/run/netns/${network.netns}`;
}

/** True when an address of the /30 of `network` is already on this host (another rig, another tool). */
function addressesTaken(network: NodeNetwork): boolean {
  const addresses = ip(["-4", "-o", "addr", "show"]);
  return [network.hostAddress, network.nodeAddress].some((address) => addresses.includes(` ${address}/`));
}

/** The network of rig `id`, moved to another /30 while its default one is taken on this host. */
export function freeNodeNetwork(id: string): NodeNetwork {
  for (let attempt = 0; attempt < 16; attempt++) {
    const network = nodeNetwork(id, attempt);
    if (!addressesTaken(network)) return network;
  }
  throw new Error(`rig node: no free /30 in 100.64.0.0/10 for rig ${id} after 16 tries`);
}

/** Runs `command` inside the node's network namespace (and only that namespace). */
export function inNetns(network: NodeNetwork, command: string[]): string {
  return execFileSync("nsenter", [`--net=${netnsPath(network)}`, "--", ...command], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/**
 * Creates the namespace, the veth pair (host end `hostLink` with `hostAddress`, namespace end `eth0` with
 * `nodeAddress`), the route that lets the namespace's own processes reach ClusterIPs (kube-proxy rewrites
 * them after routing), and turns on forwarding inside the namespace only.
 */
export async function createNodeNetwork(network: NodeNetwork): Promise<void> {
  await deleteNodeNetwork(network);
  const ns = network.netns;
  ip(["netns", "add", ns]);
  try {
    ip(["link", "add", network.hostLink, "type", "veth", "peer", "name", network.nodeLinkTemporary]);
    ip(["link", "set", network.nodeLinkTemporary, "netns", ns]);
    ip(["-n", ns, "link", "set", network.nodeLinkTemporary, "name", "eth0"]);
    ip(["addr", "add", `${network.hostAddress}/${network.prefixLength}`, "dev", network.hostLink]);
    ip(["link", "set", network.hostLink, "up"]);
    ip(["-n", ns, "addr", "add", `${network.nodeAddress}/${network.prefixLength}`, "dev", "eth0"]);
    ip(["-n", ns, "link", "set", "eth0", "up"]);
    ip(["-n", ns, "link", "set", "lo", "up"]);
    // No default route: nothing in the namespace can reach past the host's end of the link.
    ip(["-n", ns, "route", "add", SERVICE_CIDR, "dev", "eth0"]);
    // These are per network namespace: the host's own values stay as they are.
    inNetns(network, ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]);
    inNetns(network, ["sh", "-c", "echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables"]);
  } catch (error) {
    await deleteNodeNetwork(network);
    throw error;
  }
}

/**
 * Deletes the namespace if it exists; the kernel then removes its veth pair (the host's end a moment
 * later). A host link left without its namespace is deleted too.
 */
export async function deleteNodeNetwork(network: NodeNetwork): Promise<void> {
  if (existsSync(netnsPath(network))) ip(["netns", "delete", network.netns]);
  const deadline = Date.now() + 5_000;
  while (hostLinkExists(network) && Date.now() < deadline) await sleep(50);
  if (hostLinkExists(network)) ip(["link", "delete", network.hostLink]);
}

/** Whether the host end of the node's link exists. */
export function hostLinkExists(network: Pick<NodeNetwork, "hostLink">): boolean {
  return existsSync(`/sys/class/net/${network.hostLink}`);
}
