/**
 * The rig node's configuration as data: its names and addresses on this host, the files under
 * `.rig/node/`, and what containerd, the CNI plugins, kubelet, kube-scheduler, kube-proxy and CoreDNS are
 * given. Pure functions of their inputs, unit-tested in config.test.ts; node/lifecycle.ts runs them.
 *
 * Everything the node creates on the host carries the rig's id (a hash of its directory), so two rigs
 * (two worktrees) never share a name: network namespace `apisnoop-<id>`, host link `asn<id>`, cgroup
 * `/apisnoop-<id>`. The whole cluster (control plane included) runs in that network namespace, so its
 * iptables chains, bridge, veths and ports exist only there and vanish with it.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { RigLayout } from "../layout";

/** The node's name in the cluster. */
export const NODE_NAME = "rig-node";
/** Identities of the node's processes in the token file (as kubeadm names them). */
export const NODE_TOKEN_USERS = {
  kubelet: { user: `system:node:${NODE_NAME}`, groups: ["system:nodes"] },
  scheduler: { user: "system:kube-scheduler", groups: [] },
  kubeProxy: { user: "system:kube-proxy", groups: [] },
} as const;
export type NodeTokenUser = keyof typeof NODE_TOKEN_USERS;

/** Pod addresses (one node, so one /24, handed out by the CNI host-local IPAM). */
export const POD_CIDR = "10.244.0.0/24";
/** The cluster DNS Service's ClusterIP and the cluster domain. */
export const CLUSTER_DNS_IP = "10.0.0.10";
export const CLUSTER_DOMAIN = "cluster.local";
/** kube-apiserver's port inside the node's network namespace (nothing else listens there). */
export const NODE_APISERVER_PORT = 6443;
/** The bridge the pods' veths attach to, inside the network namespace. */
export const POD_BRIDGE = "rig0";
/** Where Debian's containernetworking-plugins package installs the CNI plugins. */
export const CNI_BIN_DIR = "/usr/lib/cni";
/** Debian's containerd and runc. */
export const CONTAINERD = "/usr/bin/containerd";
export const RUNC = "/usr/sbin/runc";

/**
 * Kernel settings kubelet insists on (container_manager_linux.go setupKernelTunables): it rewrites them
 * host-wide when they differ, e.g. `kernel.panic_on_oops=1`. The node's mount namespace shows kubelet
 * these values instead (bind-mounted over /proc/sys), so the host's own settings are never touched.
 */
export const KUBELET_SYSCTL_PINS: Record<string, string> = {
  "vm/overcommit_memory": "1",
  "vm/panic_on_oom": "0",
  "kernel/panic": "10",
  "kernel/panic_on_oops": "1",
  "kernel/keys/root_maxkeys": "1000000",
  "kernel/keys/root_maxbytes": "25000000",
};

/** A rig's short id: the first 8 hex digits of the SHA-256 of its directory's path. */
export function rigId(rigDirPath: string): string {
  return createHash("sha256").update(rigDirPath).digest("hex").slice(0, 8);
}

/** The node's names and addresses on this host. */
export interface NodeNetwork {
  /** Network namespace (`ip netns` name) the whole cluster runs in. */
  netns: string;
  /** The host's end of the veth pair into the namespace; the namespace's end is called eth0. */
  hostLink: string;
  /** Name of the namespace's end while it is still on the host side, before it is moved and renamed. */
  nodeLinkTemporary: string;
  /** The host's address on the link, and the node's (kube-apiserver binds it; it is the node's InternalIP). */
  hostAddress: string;
  nodeAddress: string;
  prefixLength: number;
  /** Top-level cgroup (in every v1 hierarchy) under which kubelet puts the pods. */
  cgroupRoot: string;
}

function ipv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}

/**
 * Names and addresses of the rig with id `id`. The link is a /30 in 100.64.0.0/10 (RFC 6598 shared
 * address space, which no LAN or loopback here uses), chosen by the id; `attempt` picks another /30
 * when that one's addresses are already on the host.
 */
export function nodeNetwork(id: string, attempt = 0): NodeNetwork {
  const block = (Number.parseInt(id.slice(0, 5), 16) + attempt * 7919) % (1 << 20);
  const base = ((100 << 24) | (64 << 16)) + block * 4;
  return {
    netns: `apisnoop-${id}`,
    hostLink: `asn${id}`,
    nodeLinkTemporary: `asn${id}n`,
    hostAddress: ipv4(base + 1),
    nodeAddress: ipv4(base + 2),
    prefixLength: 30,
    cgroupRoot: `/apisnoop-${id}`,
  };
}

/** Every path of the node under the rig directory. */
export interface NodeLayout {
  dir: string;
  /** Kept across starts: the imported images live here, so a restart need not import them again. */
  containerdRoot: string;
  containerdConfig: string;
  containerdSocket: string;
  cniConfDir: string;
  cniIpamDir: string;
  kubeletRoot: string;
  kubeletCertDir: string;
  kubeletConfig: string;
  kubeletKubeconfig: string;
  volumePluginDir: string;
  schedulerKubeconfig: string;
  kubeProxyConfig: string;
  kubeProxyKubeconfig: string;
  /** Bind-mounted over /var/log in the node's mount namespace: pod and container logs land here. */
  varLog: string;
  /** The resolv.conf kubelet gives `dnsPolicy: Default` pods: empty, the rig has no upstream resolver. */
  resolvConf: string;
  /** One file per pinned kernel setting (see {@link KUBELET_SYSCTL_PINS}). */
  sysctlPins: string;
  /** Volumes of type hostPath the rig offers (the PersistentVolumes for PostgreSQL). */
  volumes: string;
}

/** The node's layout inside the rig directory. */
export function nodeLayout(rig: RigLayout): NodeLayout {
  const dir = join(rig.dir, "node");
  return {
    dir,
    containerdRoot: join(dir, "containerd"),
    containerdConfig: join(dir, "containerd.toml"),
    containerdSocket: join(dir, "containerd.sock"),
    cniConfDir: join(dir, "cni", "net.d"),
    cniIpamDir: join(dir, "cni", "ipam"),
    kubeletRoot: join(dir, "kubelet"),
    kubeletCertDir: join(dir, "kubelet-pki"),
    kubeletConfig: join(dir, "kubelet.yaml"),
    kubeletKubeconfig: join(dir, "kubeconfig-kubelet"),
    volumePluginDir: join(dir, "volume-plugins"),
    schedulerKubeconfig: join(dir, "kubeconfig-scheduler"),
    kubeProxyConfig: join(dir, "kube-proxy.yaml"),
    kubeProxyKubeconfig: join(dir, "kubeconfig-kube-proxy"),
    varLog: join(dir, "var-log"),
    resolvConf: join(dir, "resolv.conf"),
    sysctlPins: join(dir, "sysctl"),
    volumes: join(dir, "volumes"),
  };
}

/** TOML string literal. */
function toml(value: string): string {
  return JSON.stringify(value);
}

/**
 * containerd's configuration (version 2, containerd 1.6): every path in the node's layout, the CRI
 * plugin with runc on cgroupfs and the CNI plugins from Debian, and no plugin that would touch host paths.
 */
export function containerdConfig(node: NodeLayout, sandboxImage: string): string {
  const cri = '[plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = ${toml(node.containerdRoot)}
# The node's mount namespace has a private /run (tmpfs): runc state, shim sockets and pod network
# namespaces stay there and disappear with it.
state = "/run/containerd"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = ${toml(node.containerdSocket)}

[plugins]
  ${cri}]
    sandbox_image = ${toml(sandboxImage)}
    # Root here may not lower oom_score_adj; without this runc fails every pod with
    # "nsexec: failed to update /proc/self/oom_score_adj: Permission denied".
    restrict_oom_score_adj = true
    disable_apparmor = true
    enable_selinux = false
    stream_server_address = "127.0.0.1"
    ${cri}.containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      ${cri}.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        ${cri}.containerd.runtimes.runc.options]
          BinaryName = ${toml(RUNC)}
          SystemdCgroup = false
    ${cri}.cni]
      bin_dir = ${toml(CNI_BIN_DIR)}
      conf_dir = ${toml(node.cniConfDir)}
      max_conf_num = 1
  [plugins."io.containerd.internal.v1.opt"]
    path = ${toml(join(node.containerdRoot, "opt"))}
`;
}

/** The CNI network: a bridge with host-local IPAM over {@link POD_CIDR}, plus portmap for hostPort. */
export function cniConfList(node: NodeLayout): string {
  return `${JSON.stringify(
    {
      cniVersion: "0.4.0",
      name: "rig",
      plugins: [
        {
          type: "bridge",
          bridge: POD_BRIDGE,
          isGateway: true,
          // Nothing leaves the namespace: no masquerading to an outside.
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: POD_CIDR }]],
            routes: [{ dst: "0.0.0.0/0" }],
            dataDir: node.cniIpamDir,
          },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

/**
 * The shell script that turns the process into the node's runtime: a private mount namespace (already
 * entered with `unshare --mount`) gets tmpfs over /run and /var/lib (containerd's state, the CNI cache,
 * pod network namespaces), /var/log bound to the rig directory (kubelet's pod log symlinks), and the
 * kernel settings kubelet checks pinned (see {@link KUBELET_SYSCTL_PINS}); then it becomes containerd.
 * Paths come as positional parameters, never spliced into the script.
 */
export function nodeRuntimeScript(): string {
  return [
    "set -eu",
    'containerd_config="$1"; var_log="$2"; pins="$3"',
    "mount -t tmpfs -o mode=0755,size=256m apisnoop-node-run /run",
    "mount -t tmpfs -o mode=0755,size=256m apisnoop-node-var-lib /var/lib",
    'mount --bind "$var_log" /var/log',
    ...Object.keys(KUBELET_SYSCTL_PINS).map(
      (key) => `mount --bind "$pins/${key.replaceAll("/", ".")}" /proc/sys/${key}`,
    ),
    `exec ${CONTAINERD} --config "$containerd_config"`,
  ].join("\n");
}

/** What the kubelet configuration depends on besides the layouts. */
export interface KubeletSettings {
  network: NodeNetwork;
  caFile: string;
}

/** kubelet's KubeletConfiguration (JSON, which is YAML). */
export function kubeletConfig(node: NodeLayout, settings: KubeletSettings): string {
  const { network } = settings;
  return `${JSON.stringify(
    {
      apiVersion: "kubelet.config.k8s.io/v1beta1",
      kind: "KubeletConfiguration",
      address: network.nodeAddress,
      port: 10250,
      readOnlyPort: 0,
      healthzBindAddress: "127.0.0.1",
      healthzPort: 10248,
      containerRuntimeEndpoint: `unix://${node.containerdSocket}`,
      // cgroups are v1 here, without systemd.
      cgroupDriver: "cgroupfs",
      failCgroupV1: false,
      cgroupRoot: network.cgroupRoot,
      failSwapOn: false,
      // Root here may not lower oom_score_adj: keep kubelet's own where it is instead of failing to.
      oomScoreAdj: 0,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: settings.caFile },
      },
      authorization: { mode: "Webhook" },
      clusterDNS: [CLUSTER_DNS_IP],
      clusterDomain: CLUSTER_DOMAIN,
      resolvConf: node.resolvConf,
      volumePluginDir: node.volumePluginDir,
      podLogsDir: "/var/log/pods",
      // The images cannot be pulled again: never garbage-collect them, and evict only when truly full.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: { "memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%" },
      serializeImagePulls: false,
      registerNode: true,
    },
    null,
    2,
  )}\n`;
}

/** kubelet's command line (the rest is in its configuration file). */
export function kubeletArgs(node: NodeLayout, network: NodeNetwork): string[] {
  return [
    `--config=${node.kubeletConfig}`,
    `--kubeconfig=${node.kubeletKubeconfig}`,
    `--root-dir=${node.kubeletRoot}`,
    `--cert-dir=${node.kubeletCertDir}`,
    `--node-ip=${network.nodeAddress}`,
    `--hostname-override=${NODE_NAME}`,
    "--v=1",
  ];
}

/** kube-scheduler's command line: no serving port, no leader election (one scheduler). */
export function schedulerArgs(node: NodeLayout): string[] {
  return [
    `--kubeconfig=${node.schedulerKubeconfig}`,
    "--leader-elect=false",
    "--bind-address=127.0.0.1",
    "--secure-port=0",
    "--v=1",
  ];
}

/**
 * kube-proxy's KubeProxyConfiguration: iptables mode in the node's namespace. It leaves the conntrack
 * sysctls alone (`nf_conntrack_max` is host-wide and read-only outside the initial namespace) and does not
 * enable localhost NodePorts (which would set route_localnet).
 */
export function kubeProxyConfig(node: NodeLayout): string {
  return `${JSON.stringify(
    {
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
      kind: "KubeProxyConfiguration",
      clientConnection: { kubeconfig: node.kubeProxyKubeconfig },
      mode: "iptables",
      clusterCIDR: POD_CIDR,
      hostnameOverride: NODE_NAME,
      healthzBindAddress: "127.0.0.1:10256",
      metricsBindAddress: "127.0.0.1:10249",
      nodePortAddresses: ["primary"],
      iptables: { localhostNodePorts: false },
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: "0s", tcpCloseWaitTimeout: "0s" },
    },
    null,
    2,
  )}\n`;
}

/** kube-proxy's command line. */
export function kubeProxyArgs(node: NodeLayout): string[] {
  return [`--config=${node.kubeProxyConfig}`, "--v=1"];
}

/** The CoreDNS objects kubeadm installs (RBAC, ConfigMap, Deployment, Service `kube-dns`), for the rig. */
export function corednsManifests(image: string): unknown[] {
  const labels = { "k8s-app": "kube-dns" };
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "coredns", namespace: "kube-system" } },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "system:coredns" },
      rules: [
        {
          apiGroups: [""],
          resources: ["endpoints", "services", "pods", "namespaces"],
          verbs: ["list", "watch"],
        },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "system:coredns" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:coredns" },
      subjects: [{ kind: "ServiceAccount", name: "coredns", namespace: "kube-system" }],
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "coredns", namespace: "kube-system" },
      // kubeadm's Corefile without `forward` and `loop`: the rig has no upstream resolver.
      data: {
        Corefile: [
          ".:53 {",
          "    errors",
          "    health {",
          "       lameduck 5s",
          "    }",
          "    ready",
          `    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {`,
          "       pods insecure",
          "       fallthrough in-addr.arpa ip6.arpa",
          "       ttl 30",
          "    }",
          "    prometheus :9153",
          "    cache 30",
          "    reload",
          "    loadbalance",
          "}",
          "",
        ].join("\n"),
      },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "coredns", namespace: "kube-system", labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            priorityClassName: "system-cluster-critical",
            serviceAccountName: "coredns",
            dnsPolicy: "Default",
            containers: [
              {
                name: "coredns",
                image,
                // Built and imported by the rig; there is no registry to pull from.
                imagePullPolicy: "Never",
                args: ["-conf", "/etc/coredns/Corefile"],
                resources: { limits: { memory: "170Mi" }, requests: { cpu: "20m", memory: "70Mi" } },
                volumeMounts: [{ name: "config-volume", mountPath: "/etc/coredns", readOnly: true }],
                ports: [
                  { containerPort: 53, name: "dns", protocol: "UDP" },
                  { containerPort: 53, name: "dns-tcp", protocol: "TCP" },
                  { containerPort: 9153, name: "metrics", protocol: "TCP" },
                  { containerPort: 8080, name: "liveness-probe", protocol: "TCP" },
                  { containerPort: 8181, name: "readiness-probe", protocol: "TCP" },
                ],
                livenessProbe: {
                  httpGet: { path: "/health", port: "liveness-probe" },
                  initialDelaySeconds: 60,
                  timeoutSeconds: 5,
                  failureThreshold: 5,
                },
                readinessProbe: { httpGet: { path: "/ready", port: "readiness-probe" }, periodSeconds: 2 },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  capabilities: { add: ["NET_BIND_SERVICE"], drop: ["ALL"] },
                  readOnlyRootFilesystem: true,
                },
              },
            ],
            volumes: [
              {
                name: "config-volume",
                configMap: { name: "coredns", items: [{ key: "Corefile", path: "Corefile" }] },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "kube-dns",
        namespace: "kube-system",
        labels: { ...labels, "kubernetes.io/name": "CoreDNS" },
      },
      spec: {
        clusterIP: CLUSTER_DNS_IP,
        selector: labels,
        ports: [
          { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
          { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
          { name: "metrics", port: 9153, protocol: "TCP", targetPort: 9153 },
        ],
      },
    },
  ];
}
