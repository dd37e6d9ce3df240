/**
 * The images the rig node runs, built from files on this machine (tools/images/oci-image.ts) and named
 * under a registry host nothing answers at, so a pull can never silently fetch something else: pods use
 * them with `imagePullPolicy: Never`.
 */
import { join } from "node:path";
import { kubeBinDir, kubeVersions } from "../rig/kube-bin";
import { repoRoot } from "../rig/rig";
import { busyboxLayer, nodeModulesLayer, nodeRuntimeLayer, systemLayer } from "./base-layers";
import type { ImageRecipe } from "./oci-image";

/** Registry host of the images the rig builds and imports itself. */
export const RIG_IMAGE_REGISTRY = "rig.apisnoop.local";

/** `rig.apisnoop.local/<name>:<tag>`. */
export function rigImageName(name: string, tag: string): string {
  return `${RIG_IMAGE_REGISTRY}/${name}:${tag}`;
}

/** The sandbox image: upstream's pause (build/pause/linux/pause.c), as tools/kube/build.sh compiles it. */
export function pauseImage(binDir: string = kubeBinDir()): ImageRecipe {
  return {
    name: rigImageName("pause", kubeVersions().pause),
    layers: [
      { name: "pause", items: [{ kind: "file", to: "/pause", from: join(binDir, "pause"), mode: 0o755 }] },
    ],
    config: { entrypoint: ["/pause"], user: "65535:65535" },
  };
}

/**
 * CoreDNS for the cluster DNS. It runs as root with only NET_BIND_SERVICE (the Deployment drops the rest):
 * upstream's image runs as non-root with a file capability on the binary, which a layer of ours does not carry.
 */
export function corednsImage(binDir: string = kubeBinDir()): ImageRecipe {
  return {
    name: rigImageName("coredns", kubeVersions().coredns),
    layers: [
      {
        name: "coredns",
        items: [{ kind: "file", to: "/coredns", from: join(binDir, "coredns"), mode: 0o755 }],
      },
    ],
    config: { entrypoint: ["/coredns"], exposedPorts: ["53/tcp", "53/udp", "9153/tcp"] },
  };
}

/** `PATH` of the rig's images with a shell. */
const IMAGE_PATH = "PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * The toolbox for test workloads: busybox (sh, nslookup, wget), kubectl and agnhost (the e2e suite's test
 * image) from the kube build, Node.js with @kubernetes/client-node, and `in-cluster-client.mjs`, a client
 * that uses the in-cluster configuration as an addon does.
 */
export function toolboxImage(binDir: string = kubeBinDir()): ImageRecipe {
  return {
    name: rigImageName("toolbox", "dev"),
    layers: [
      systemLayer(),
      busyboxLayer(),
      nodeRuntimeLayer(),
      nodeModulesLayer(
        "toolbox-node-modules",
        join(repoRoot, "node_modules"),
        ["@kubernetes/client-node"],
        "/toolbox",
      ),
      {
        name: "toolbox",
        items: [
          { kind: "file", to: "/usr/local/bin/kubectl", from: join(binDir, "kubectl"), mode: 0o755 },
          { kind: "file", to: "/usr/local/bin/agnhost", from: join(binDir, "agnhost"), mode: 0o755 },
          {
            kind: "file",
            to: "/toolbox/in-cluster-client.mjs",
            from: join(repoRoot, "tools", "images", "toolbox", "in-cluster-client.mjs"),
            mode: 0o755,
          },
        ],
      },
    ],
    config: { env: [IMAGE_PATH], workingDir: "/toolbox", cmd: ["sh"] },
  };
}
