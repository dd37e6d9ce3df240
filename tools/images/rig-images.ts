/**
 * The images the rig node runs, built from files on this machine (tools/images/oci-image.ts) and named
 * under a registry host nothing answers at, so a pull can never silently fetch something else: pods use
 * them with `imagePullPolicy: Never`.
 */

import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { kubeBinDir, kubeVersions } from "../rig/kube-bin";
import { repoRoot } from "../rig/rig";
import { busyboxLayer, hostFilesLayer, nodeModulesLayer, nodeRuntimeLayer, systemLayer } from "./base-layers";
import { imageFromDockerfile } from "./dockerfile-image";
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

/** Debian's PostgreSQL 15, where its package installs it. */
const POSTGRES_BIN = "/usr/lib/postgresql/15/bin";
const POSTGRES_LIB = "/usr/lib/postgresql/15/lib";

/**
 * PostgreSQL for the chart's bundled database: Debian's PostgreSQL 15 (binaries, modules, shared files,
 * the time zones it was built against) behind an entrypoint with the official image's environment contract
 * (tools/images/postgres/entrypoint.sh); busybox is its shell. LLVM (JIT) is left out.
 */
export function postgresImage(): ImageRecipe {
  const binaries = ["postgres", "initdb", "pg_ctl", "pg_isready", "psql"].map((name) =>
    join(POSTGRES_BIN, name),
  );
  const modules = readdirSync(POSTGRES_LIB)
    .filter((name) => name.endsWith(".so") && !name.startsWith("llvmjit"))
    .map((name) => join(POSTGRES_LIB, name));
  return {
    name: rigImageName("postgres", "15-dev"),
    layers: [
      systemLayer(),
      busyboxLayer(),
      hostFilesLayer(
        "postgresql-15",
        [...binaries, ...modules],
        ["/usr/share/postgresql/15", "/usr/share/zoneinfo"],
      ),
      {
        name: "postgres-entrypoint",
        items: [
          {
            kind: "file",
            to: "/usr/local/bin/docker-entrypoint.sh",
            from: join(repoRoot, "tools", "images", "postgres", "entrypoint.sh"),
            mode: 0o755,
          },
          // The server's Unix socket directory (compiled in) and the data volume's mount point.
          { kind: "dir", to: "/var/run/postgresql", mode: 0o2775, uid: 70, gid: 70 },
          { kind: "dir", to: "/var/lib/postgresql/data", mode: 0o700, uid: 70, gid: 70 },
        ],
      },
    ],
    config: {
      env: [`PATH=/usr/local/bin:${POSTGRES_BIN}:/usr/bin:/bin`, "PGDATA=/var/lib/postgresql/data"],
      entrypoint: ["/usr/local/bin/docker-entrypoint.sh"],
      user: "70:70",
      exposedPorts: ["5432/tcp"],
    },
  };
}

/** The proxy image (proxy and webhook), from apps/proxy/Dockerfile. */
export function proxyImage(log: (line: string) => void = () => {}): Promise<ImageRecipe> {
  return imageFromDockerfile({
    dockerfile: join(repoRoot, "apps", "proxy", "Dockerfile"),
    context: repoRoot,
    name: rigImageName("proxy", "dev"),
    log,
  });
}

/**
 * The web app's production build, made once per change of its sources (apps/web's `ensureNextBuild`,
 * shared with the stack tests), in a process of its own: the app's modules stay out of the tools' program.
 */
function ensureWebBuild(log: (line: string) => void): void {
  const script =
    "const { ensureNextBuild } = await import('./apps/web/src/server/next-build.ts');" +
    "console.log('next build: ' + (await ensureNextBuild((line) => console.log(line))));";
  const output = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: repoRoot,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const line of output.trim().split("\n")) log(line);
}

/** The dashboard image, from apps/web/Dockerfile; its Next build is the one the stack tests share. */
export function webImage(log: (line: string) => void = () => {}): Promise<ImageRecipe> {
  return imageFromDockerfile({
    dockerfile: join(repoRoot, "apps", "web", "Dockerfile"),
    context: repoRoot,
    name: rigImageName("web", "dev"),
    builders: {
      "build --workspace=@apisnoop/web": async (line) => ensureWebBuild(line),
    },
    log,
  });
}

/** The webhook's redirect init container (Debian's iptables and one script), from its Dockerfile. */
export function redirectImage(log: (line: string) => void = () => {}): Promise<ImageRecipe> {
  return imageFromDockerfile({
    dockerfile: join(repoRoot, "apps", "webhook", "redirect", "Dockerfile"),
    context: repoRoot,
    name: rigImageName("redirect", "dev"),
    log,
  });
}

/**
 * The upstream e2e suite (`e2e.test`, tools/e2e/build.sh) with busybox, to run its tests from a pod as any
 * in-cluster client: with no `--kubeconfig`, e2e.test uses the in-cluster configuration.
 */
export function e2eRunnerImage(binary: string): ImageRecipe {
  return {
    name: rigImageName("e2e", kubeVersions().kube),
    layers: [
      systemLayer(),
      busyboxLayer(),
      {
        name: "e2e.test",
        items: [{ kind: "file", to: "/usr/local/bin/e2e.test", from: binary, mode: 0o755 }],
      },
    ],
    config: { env: [IMAGE_PATH], workingDir: "/tmp", entrypoint: ["/usr/local/bin/e2e.test"] },
  };
}
