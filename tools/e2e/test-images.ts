/**
 * The e2e suite's test images, built on this machine (nothing can be pulled) and named the way e2e.test
 * asks for them once `--kube-test-repo-list` maps its registries onto the rig's: agnhost and nonewprivs from
 * their Go module, busybox from Debian's static build, and the two web servers the workload tests only need to
 * serve (httpd, nginx) as busybox's httpd applet on the same port and document root, the sample API server
 * from its module and the rig's etcd. Tests that depend on more than that (Apache or nginx behaviour,
 * busybox ash's exact messages) are left out of the selection, with the reason, in conformance-tests.ts.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUSYBOX, busyboxLayer, hostFilesLayer, IMAGE_USERS, systemLayer } from "../images/base-layers";
import type { ImageLayer, ImageRecipe, LayerItem } from "../images/oci-image";
import { pauseImage, RIG_IMAGE_REGISTRY } from "../images/rig-images";
import { kubeBinDir } from "../rig/kube-bin";
import { kubernetesSourceDir } from "./upstream-source";

/** Where e2e.test's "promoter" images (agnhost, busybox, httpd, nginx, …) live on the rig. */
export const E2E_IMAGE_REGISTRY = `${RIG_IMAGE_REGISTRY}/e2e-test-images`;

/** The upstream module's source tree (porter's certificates, the Update Demo's files). */
function upstreamTestImages(): string {
  return join(kubernetesSourceDir(), "test", "images");
}

const PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The users upstream's images define that tests look for (agnhost's "user-defined-in-image"). */
const AGNHOST_USERS = [
  ...IMAGE_USERS.filter((user) => user.uid !== 1000),
  { name: "user-defined-in-image", uid: 1000, home: "/home/user-defined-in-image" },
];

/**
 * The shell the tests exec (`/bin/sh -c …`): bash, with getent (the DNS tests' /etc/hosts lookups). Debian's static busybox ash runs its own applets before
 * PATH (`nc -v` would be busybox's nc) and drops environment variables whose names are not shell
 * identifiers (`data-1=value-1`, which the ConfigMap and Secret env tests look for); the shells of
 * upstream's images do neither.
 */
function testShellLayers(): ImageLayer[] {
  // Upstream's busybox image has every applet in /bin, and tests exec them there (`/bin/sysctl`).
  const applets = execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" })
    .split("\n")
    .filter((name) => name && name !== "sh" && name !== "busybox");
  return [
    hostFilesLayer("bash-getent", ["/usr/bin/bash", "/usr/bin/getent"]),
    {
      name: "test-shell",
      items: [
        ...applets.map(
          (name): LayerItem => ({ kind: "symlink", to: `/bin/${name}`, target: "/bin/busybox" }),
        ),
        { kind: "symlink", to: "/bin/sh", target: "/usr/bin/bash" },
      ],
    },
  ];
}

/**
 * The tools upstream's agnhost image installs that tests exec (Debian's builds): OpenBSD's netcat (`nc -v`,
 * which busybox's lacks), curl, dig and ip.
 */
function networkToolsLayers(): ImageLayer[] {
  return [
    hostFilesLayer("network-tools", ["/usr/bin/nc.openbsd", "/usr/bin/curl", "/usr/bin/dig", "/usr/sbin/ip"]),
    { name: "netcat-openbsd", items: [{ kind: "symlink", to: "/usr/bin/nc", target: "nc.openbsd" }] },
  ];
}

/** agnhost at /agnhost like upstream's image, with a shell and the network tools tests exec. */
function agnhostLayers(binDir: string): ImageLayer[] {
  const porter = join(upstreamTestImages(), "agnhost", "porter");
  return [
    systemLayer(AGNHOST_USERS),
    busyboxLayer(),
    ...testShellLayers(),
    ...networkToolsLayers(),
    {
      name: "agnhost",
      items: [
        { kind: "file", to: "/agnhost", from: join(binDir, "agnhost"), mode: 0o755 },
        { kind: "symlink", to: "/agnhost-2", target: "agnhost" },
        { kind: "file", to: "/localhost.crt", from: join(porter, "localhost.crt") },
        { kind: "file", to: "/localhost.key", from: join(porter, "localhost.key") },
        { kind: "dir", to: "/uploads", mode: 0o755 },
        {
          kind: "file",
          to: "/etc/ssl/certs/ca-certificates.crt",
          from: "/etc/ssl/certs/ca-certificates.crt",
        },
      ],
    },
  ];
}

/** A web server on :80 serving `root` with busybox's httpd, in the foreground. */
function busyboxWebServer(name: string, tag: string, root: string, command: string): ImageRecipe {
  const script = `#!/bin/sh\nexec /bin/busybox httpd -f -v -p 80 -h ${root}\n`;
  return {
    name: `${E2E_IMAGE_REGISTRY}/${name}:${tag}`,
    layers: [
      systemLayer(),
      busyboxLayer(),
      {
        name: `${name}-${tag}`,
        items: [
          { kind: "file", to: `/usr/local/bin/${command}`, content: script, mode: 0o755 },
          {
            kind: "file",
            to: `${root}/index.html`,
            content: "<html><body><h1>It works!</h1></body></html>\n",
          },
        ],
      },
    ],
    config: { env: [PATH], cmd: [command], exposedPorts: ["80/tcp"] },
  };
}

/** Every image a selected test runs, named as e2e.test asks for it under {@link testImageRepoList}. */
export function e2eTestImages(binDir: string = kubeBinDir()): ImageRecipe[] {
  const agnhost: ImageRecipe = {
    name: `${E2E_IMAGE_REGISTRY}/agnhost:2.56`,
    layers: agnhostLayers(binDir),
    config: { env: [PATH], entrypoint: ["/agnhost"], cmd: ["pause"], exposedPorts: ["80/tcp", "8080/tcp"] },
  };
  const busybox: ImageRecipe = {
    name: `${E2E_IMAGE_REGISTRY}/busybox:1.37.0-1`,
    layers: [systemLayer(), busyboxLayer(), ...testShellLayers()],
    config: { env: [PATH], cmd: ["sh"] },
  };
  // The Update Demo's two images: agnhost's test-webserver serving one picture and data.json each.
  const demo = (name: "nautilus" | "kitten"): ImageRecipe => {
    const html = join(upstreamTestImages(), name, "html");
    return {
      name: `${E2E_IMAGE_REGISTRY}/${name}:1.7`,
      layers: [
        ...agnhostLayers(binDir),
        {
          name: `${name}-html`,
          items: [
            { kind: "file", to: `/${name}.jpg`, from: join(html, `${name}.jpg`) },
            { kind: "file", to: "/data.json", from: join(html, "data.json") },
          ],
        },
      ],
      config: { env: [PATH], entrypoint: ["/agnhost"], cmd: ["test-webserver"], exposedPorts: ["80/tcp"] },
    };
  };
  // The DNS tests' second prober: upstream's is Debian jessie with dnsutils; what they run is sh and dig.
  const dnsutils: ImageRecipe = {
    name: `${E2E_IMAGE_REGISTRY}/jessie-dnsutils:1.7`,
    layers: [systemLayer(), busyboxLayer(), ...testShellLayers(), ...networkToolsLayers()],
    config: { env: [PATH], cmd: ["sh"] },
  };
  // Security Context's privilege-escalation tests: nnp, setuid root, prints its effective uid.
  const nonewprivs: ImageRecipe = {
    name: `${E2E_IMAGE_REGISTRY}/nonewprivs:1.3`,
    layers: [
      systemLayer(),
      busyboxLayer(),
      {
        name: "nnp",
        items: [{ kind: "file", to: "/usr/local/bin/nnp", from: join(binDir, "nnp"), mode: 0o4755 }],
      },
    ],
    config: { env: [PATH], cmd: ["nnp"] },
  };
  // The Aggregator test's sample API server: upstream's image is busybox with kube-sample-apiserver as its
  // entrypoint, a build of k8s.io/sample-apiserver 1.29; this one is the module at the rig's version.
  const sampleApiserver: ImageRecipe = {
    name: `${E2E_IMAGE_REGISTRY}/sample-apiserver:1.29.2`,
    layers: [
      systemLayer(),
      busyboxLayer(),
      {
        name: "kube-sample-apiserver",
        items: [
          {
            kind: "file",
            to: "/kube-sample-apiserver",
            from: join(binDir, "kube-sample-apiserver"),
            mode: 0o755,
          },
        ],
      },
    ],
    config: { env: [PATH], entrypoint: ["/kube-sample-apiserver"] },
  };
  // Its storage, the etcd the test runs beside it as /usr/local/bin/etcd: the rig's own etcd (3.6.4, the
  // version e2e.test names).
  const etcd: ImageRecipe = {
    name: `${RIG_IMAGE_REGISTRY}/etcd:3.6.4-0`,
    layers: [
      systemLayer(),
      busyboxLayer(),
      {
        name: "etcd",
        items: [{ kind: "file", to: "/usr/local/bin/etcd", from: join(binDir, "etcd"), mode: 0o755 }],
      },
    ],
    config: { env: [PATH], cmd: ["/usr/local/bin/etcd"] },
  };
  return [
    // The sandbox image e2e.test names (registry.k8s.io/pause → the rig's), the one the node already runs.
    pauseImage(binDir),
    agnhost,
    busybox,
    busyboxWebServer("httpd", "2.4.38-4", "/usr/local/apache2/htdocs", "httpd-foreground"),
    busyboxWebServer("httpd", "2.4.39-4", "/usr/local/apache2/htdocs", "httpd-foreground"),
    busyboxWebServer("nginx", "1.14-4", "/usr/share/nginx/html", "nginx"),
    busyboxWebServer("nginx", "1.15-4", "/usr/share/nginx/html", "nginx"),
    demo("nautilus"),
    demo("kitten"),
    dnsutils,
    nonewprivs,
    sampleApiserver,
    etcd,
  ];
}

/**
 * The `--kube-test-repo-list` file: e2e.test's registries mapped onto the rig's, so every image it asks
 * for is one the node holds (the registry names of images we do not build stay unresolvable on purpose).
 * @returns the file's path.
 */
export function writeTestImageRepoList(dir: string): string {
  const path = join(dir, "kube-test-repo-list.yaml");
  writeFileSync(
    path,
    [
      `promoterE2eRegistry: ${E2E_IMAGE_REGISTRY}`,
      `gcRegistry: ${RIG_IMAGE_REGISTRY}`,
      `gcEtcdRegistry: ${RIG_IMAGE_REGISTRY}`,
      `dockerLibraryRegistry: ${RIG_IMAGE_REGISTRY}/library`,
      `buildImageRegistry: ${RIG_IMAGE_REGISTRY}/build-image`,
      `sigStorageRegistry: ${RIG_IMAGE_REGISTRY}/sig-storage`,
      "",
    ].join("\n"),
  );
  return path;
}
