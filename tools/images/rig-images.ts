/**
 * The images the rig node runs, built from files on this machine (tools/images/oci-image.ts) and named
 * under a registry host nothing answers at, so a pull can never silently fetch something else: pods use
 * them with `imagePullPolicy: Never`.
 */
import { join } from "node:path";
import { kubeBinDir, kubeVersions } from "../rig/kube-bin";
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
