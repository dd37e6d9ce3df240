import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import { rigLayout } from "../layout";
import {
  CLUSTER_DNS_IP,
  cniConfList,
  containerdConfig,
  corednsManifests,
  KUBELET_SYSCTL_PINS,
  kubeletArgs,
  kubeletConfig,
  kubeProxyConfig,
  NODE_NAME,
  nodeLayout,
  nodeNetwork,
  nodeRuntimeScript,
  POD_CIDR,
  rigId,
} from "./config";

const node = nodeLayout(rigLayout("/work/x/.rig"));
const network = nodeNetwork(rigId("/work/x/.rig"));

/** `a.b.c.d` as a 32-bit number. */
const ipNumber = (address: string) =>
  address.split(".").reduce((value, octet) => value * 256 + Number(octet), 0);

describe("the node's names and addresses", () => {
  it("derives every host-visible name from the rig directory, so two worktrees never share one", () => {
    const a = rigId("/work/wt-a/.rig");
    const b = rigId("/work/wt-b/.rig");
    expect(a).toMatch(/^[0-9a-f]{8}$/);
    expect(a).toBe(rigId("/work/wt-a/.rig"));
    expect(b).not.toBe(a);
    const [na, nb] = [nodeNetwork(a), nodeNetwork(b)];
    for (const key of ["netns", "hostLink", "nodeLinkTemporary", "cgroupRoot", "hostAddress"] as const) {
      expect(na[key], key).toContain(key === "hostAddress" ? "100." : a);
      expect(nb[key], key).not.toBe(na[key]);
    }
    // Linux link names are at most 15 bytes.
    expect(na.nodeLinkTemporary.length).toBeLessThanOrEqual(15);
  });

  it("puts the link in a /30 of 100.64.0.0/10, host end .1 and node end .2, another one per attempt", () => {
    const seen = new Set<string>();
    for (let attempt = 0; attempt < 16; attempt++) {
      const n = nodeNetwork("ffffffff", attempt);
      const host = ipNumber(n.hostAddress);
      expect(n.prefixLength).toBe(30);
      expect(host % 4, n.hostAddress).toBe(1);
      expect(ipNumber(n.nodeAddress)).toBe(host + 1);
      // 100.64.0.0/10: the first 10 bits are 0110 0100 01.
      expect(host >>> 22, n.hostAddress).toBe(ipNumber("100.64.0.0") >>> 22);
      seen.add(n.hostAddress);
    }
    expect(seen.size).toBe(16);
  });
});

describe("containerd, CNI and the runtime script", () => {
  it("keeps containerd's paths in the rig directory and restricts oom_score_adj, which root may not lower here", () => {
    const toml = containerdConfig(node, "rig.apisnoop.local/pause:3.10");
    expect(toml).toContain(`root = "${node.containerdRoot}"`);
    expect(toml).toContain(`address = "${node.containerdSocket}"`);
    expect(toml).toContain('sandbox_image = "rig.apisnoop.local/pause:3.10"');
    expect(toml).toMatch(/^\s*restrict_oom_score_adj = true$/m);
    expect(toml).toMatch(/^\s*SystemdCgroup = false$/m);
    expect(toml).toContain(`conf_dir = "${node.cniConfDir}"`);
    // Nothing of containerd's on the host's /var/lib/containerd or /opt.
    expect(toml).not.toContain("/var/lib/containerd");
    expect(toml).not.toMatch(/"\/opt/);
  });

  it("gives pods a bridge with host-local addresses from the pod range, kept in the rig directory", () => {
    const list = JSON.parse(cniConfList(node)) as {
      plugins: Array<{ type: string; ipMasq?: boolean; ipam?: { ranges: unknown; dataDir: string } }>;
    };
    expect(list.plugins.map((plugin) => plugin.type)).toEqual(["bridge", "portmap"]);
    const [bridge] = list.plugins;
    expect(bridge?.ipMasq).toBe(false);
    expect(bridge?.ipam?.ranges).toEqual([[{ subnet: POD_CIDR }]]);
    expect(bridge?.ipam?.dataDir).toBe(node.cniIpamDir);
  });

  it("mounts private /run and /var/lib and pins every kernel setting kubelet would rewrite host-wide", () => {
    const script = nodeRuntimeScript();
    expect(script).toMatch(/^mount -t tmpfs .* \/run$/m);
    expect(script).toMatch(/^mount -t tmpfs .* \/var\/lib$/m);
    for (const key of Object.keys(KUBELET_SYSCTL_PINS)) expect(script).toContain(` /proc/sys/${key}\n`);
    expect(script.split("\n").at(-1)).toMatch(/^exec \/usr\/bin\/containerd --config "\$containerd_config"$/);
    // Paths come as positional parameters, never spliced in.
    expect(script).not.toContain(node.dir);
  });
});

describe("kubelet and kube-proxy", () => {
  it("configures kubelet for cgroup v1 with cgroupfs under the rig's cgroup, at the node's address", () => {
    const config = load(kubeletConfig(node, { network, caFile: "/rig/ca.crt" })) as Record<string, unknown>;
    expect(config).toMatchObject({
      address: network.nodeAddress,
      cgroupDriver: "cgroupfs",
      failCgroupV1: false,
      failSwapOn: false,
      cgroupRoot: network.cgroupRoot,
      oomScoreAdj: 0,
      readOnlyPort: 0,
      healthzBindAddress: "127.0.0.1",
      clusterDNS: [CLUSTER_DNS_IP],
      resolvConf: node.resolvConf,
      containerRuntimeEndpoint: `unix://${node.containerdSocket}`,
      authentication: { anonymous: { enabled: false }, x509: { clientCAFile: "/rig/ca.crt" } },
      authorization: { mode: "Webhook" },
      // Images cannot be pulled again: never collected.
      imageGCHighThresholdPercent: 100,
    });
    expect(kubeletArgs(node, network)).toEqual(
      expect.arrayContaining([`--node-ip=${network.nodeAddress}`, `--hostname-override=${NODE_NAME}`]),
    );
  });

  it("keeps kube-proxy off host-wide conntrack settings and localhost NodePorts", () => {
    const config = load(kubeProxyConfig(node)) as Record<string, unknown>;
    expect(config).toMatchObject({
      mode: "iptables",
      clusterCIDR: POD_CIDR,
      conntrack: { maxPerCore: 0 },
      iptables: { localhostNodePorts: false },
    });
  });
});

describe("CoreDNS", () => {
  it("serves the cluster domain at the cluster DNS address from the local image, with no upstream", () => {
    const objects = corednsManifests("rig.apisnoop.local/coredns:v1") as Array<{
      kind: string;
      data?: { Corefile: string };
      spec?: {
        clusterIP?: string;
        template?: { spec: { containers: Array<{ image: string; imagePullPolicy: string }> } };
      };
    }>;
    const corefile = objects.find((o) => o.kind === "ConfigMap")?.data?.Corefile ?? "";
    expect(corefile).toContain("kubernetes cluster.local in-addr.arpa ip6.arpa");
    expect(corefile).not.toMatch(/^\s*(forward|loop)\b/m);
    expect(objects.find((o) => o.kind === "Service")?.spec?.clusterIP).toBe(CLUSTER_DNS_IP);
    const [container] = objects.find((o) => o.kind === "Deployment")?.spec?.template?.spec.containers ?? [];
    expect(container).toMatchObject({ image: "rig.apisnoop.local/coredns:v1", imagePullPolicy: "Never" });
  });
});
