/**
 * Layers made of this machine's own files: busybox (Debian's static build) for a shell, a minimal /etc,
 * the running Node.js with its shared libraries, and npm packages with their dependencies copied from the
 * workspace's node_modules. Images share these layers (same inputs, same digest), so containerd stores each once.
 */
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ImageLayer, LayerItem } from "./oci-image";

/** Debian's busybox-static. */
export const BUSYBOX = "/bin/busybox";

/** A user of the image's /etc/passwd. */
export interface ImageUser {
  name: string;
  uid: number;
  home?: string;
}

/** root, nobody, and the users every rig image may run as: node (Node.js images), apisnoop, postgres. */
export const IMAGE_USERS: ImageUser[] = [
  { name: "root", uid: 0, home: "/root" },
  { name: "postgres", uid: 70, home: "/var/lib/postgresql" },
  { name: "node", uid: 1000, home: "/home/node" },
  { name: "apisnoop", uid: 10001 },
  { name: "nobody", uid: 65534 },
];

/**
 * The shared libraries `binaries` load, as `ldd` lists them (the dynamic loader included), each with the
 * file it resolves to on this host.
 */
export function sharedLibraries(binaries: string[]): Array<{ path: string; file: string }> {
  const libraries = new Map<string, string>();
  for (const binary of binaries) {
    let output = "";
    try {
      output = execFileSync("ldd", [binary], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
      // "not a dynamic executable": a static binary needs nothing.
      if (String((error as { stdout?: string }).stdout ?? "").includes("not a dynamic")) continue;
      if (String((error as { stderr?: string }).stderr ?? "").includes("not a dynamic")) continue;
      throw error;
    }
    for (const line of output.split("\n")) {
      const path = /=>\s+(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(line)?.[1];
      if (path) libraries.set(path, realpathSync(path));
    }
  }
  return [...libraries].sort(([a], [b]) => a.localeCompare(b)).map(([path, file]) => ({ path, file }));
}

/** Host files (executables, their libraries) at the same paths in the image. */
export function hostFilesLayer(name: string, executables: string[], extraFiles: string[] = []): ImageLayer {
  const items: LayerItem[] = [];
  for (const executable of executables)
    items.push({ kind: "file", to: executable, from: realpathSync(executable) });
  for (const { path, file } of sharedLibraries(executables))
    items.push({ kind: "file", to: path, from: file });
  for (const file of extraFiles) items.push({ kind: "tree", from: realpathSync(file), to: file });
  return { name, items };
}

/** busybox as /bin/busybox with one symlink per applet (sh, ls, wget, nslookup, …). */
export function busyboxLayer(): ImageLayer {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing (Debian package busybox-static)`);
  const applets = execFileSync(BUSYBOX, ["--list-full"], { encoding: "utf8" })
    .split("\n")
    .filter((line) => line && line !== "bin/busybox");
  return {
    name: "busybox",
    items: [
      { kind: "file", to: "/bin/busybox", from: BUSYBOX, mode: 0o755 },
      ...applets.map((applet): LayerItem => ({ kind: "symlink", to: `/${applet}`, target: "/bin/busybox" })),
    ],
  };
}

/** /etc/passwd and /etc/group for {@link IMAGE_USERS}, /etc/nsswitch.conf, and a world-writable /tmp. */
export function systemLayer(users: ImageUser[] = IMAGE_USERS): ImageLayer {
  const passwd = users
    .map((u) => `${u.name}:x:${u.uid}:${u.uid}:${u.name}:${u.home ?? "/nonexistent"}:/bin/sh\n`)
    .join("");
  const group = users.map((u) => `${u.name}:x:${u.uid}:\n`).join("");
  return {
    name: "system",
    items: [
      { kind: "file", to: "/etc/passwd", content: passwd },
      { kind: "file", to: "/etc/group", content: group },
      { kind: "file", to: "/etc/nsswitch.conf", content: "passwd: files\ngroup: files\nhosts: files dns\n" },
      { kind: "dir", to: "/tmp", mode: 0o1777 },
      ...users
        .filter((u) => u.home && u.uid !== 0)
        .map((u): LayerItem => ({ kind: "dir", to: u.home as string, uid: u.uid, gid: u.uid })),
      { kind: "dir", to: "/root", mode: 0o700 },
    ],
  };
}

/** The Node.js running this process, with its shared libraries, as /usr/local/bin/node. */
export function nodeRuntimeLayer(): ImageLayer {
  const node = realpathSync(process.execPath);
  return {
    name: `node-${process.version}`,
    items: [
      { kind: "file", to: "/usr/local/bin/node", from: node, mode: 0o755 },
      ...sharedLibraries([node]).map(({ path, file }): LayerItem => ({ kind: "file", to: path, from: file })),
    ],
  };
}

interface PackageJson {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/**
 * The installed directories of `packages` and of every package they depend on, resolved the way Node
 * does from `nodeModules` (a package's own nested node_modules first, then the top level).
 * @returns paths relative to `nodeModules` (e.g. `@kubernetes/client-node`, `ws`).
 */
export function packageClosure(nodeModules: string, packages: string[]): string[] {
  const found = new Set<string>();
  const visit = (name: string, from: string) => {
    // Walk up from the requiring package's directory, as require.resolve does.
    for (let dir = from; ; dir = dirname(dir)) {
      const candidate = join(dir, "node_modules", name);
      if (existsSync(join(candidate, "package.json"))) {
        const relative = candidate.slice(nodeModules.length + 1);
        if (found.has(relative)) return;
        found.add(relative);
        const manifest = JSON.parse(readFileSync(join(candidate, "package.json"), "utf8")) as PackageJson;
        for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
          visit(dep, candidate);
        }
        return;
      }
      // Not installed: an optional dependency for another platform.
      if (dir === dirname(nodeModules) || dir === dirname(dir)) return;
    }
  };
  for (const name of packages) visit(name, dirname(nodeModules));
  // A package copied whole carries its nested node_modules: drop entries inside another one.
  return [...found]
    .filter((p) => ![...found].some((q) => q !== p && p.startsWith(`${q}/node_modules/`)))
    .sort();
}

/** The npm packages `packages` with their dependencies, copied from `nodeModules` to `to`/node_modules. */
export function nodeModulesLayer(
  name: string,
  nodeModules: string,
  packages: string[],
  to: string,
): ImageLayer {
  return {
    name,
    items: packageClosure(nodeModules, packages).map(
      (relative): LayerItem => ({
        kind: "tree",
        from: join(nodeModules, relative),
        to: `${to}/node_modules/${relative}`,
      }),
    ),
  };
}

/** What debian:bookworm-slim never installs (its /etc/dpkg/dpkg.cfg.d/docker excludes them). */
const SLIM_EXCLUDED = /^\/usr\/share\/(doc|man|info|locale|lintian|linda)(\/|$)/;

function dpkgQuery(args: string[]): string {
  return execFileSync("dpkg-query", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function installed(name: string): boolean {
  try {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    return dpkgQuery(["-W", "-f=${db:Status-Status}", name]).trim() === "installed";
  } catch {
    return false;
  }
}

/**
 * `packages` and every package they depend on (Depends and Pre-Depends, recursively; of alternatives the
 * first installed one), as installed on this machine.
 * @throws Error naming a package that is not installed (the fix: add it to .ci/apt-packages).
 */
export function debianPackageClosure(packages: string[]): string[] {
  const found = new Set<string>();
  const visit = (name: string) => {
    if (found.has(name)) return;
    if (!installed(name)) {
      throw new Error(`Debian package ${name} is not installed on this machine (add it to .ci/apt-packages)`);
    }
    found.add(name);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const depends = dpkgQuery(["-W", "-f=${Pre-Depends}, ${Depends}", name]);
    for (const group of depends
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean)) {
      const choices = group.split("|").map((choice) => (choice.trim().split(/[\s(:]/)[0] ?? "").trim());
      const chosen = choices.find(installed);
      if (!chosen)
        throw new Error(`Debian package ${name} needs one of ${choices.join(", ")}, none installed`);
      visit(chosen);
    }
  };
  for (const name of packages) visit(name);
  return [...found].sort();
}

/** Link path of every alternative (`iptables` -> `/usr/sbin/iptables`), masters and slaves. */
function alternativeLinks(): Map<string, string> {
  const links = new Map<string, string>();
  const dir = "/var/lib/dpkg/alternatives";
  if (!existsSync(dir)) return links;
  for (const name of readdirSync(dir)) {
    const lines = readFileSync(join(dir, name), "utf8").split("\n");
    if (lines[1]) links.set(name, lines[1]);
    for (let i = 2; i + 1 < lines.length && lines[i] !== ""; i += 2) {
      const slave = lines[i];
      const link = lines[i + 1];
      if (slave && link) links.set(slave, link);
    }
  }
  return links;
}

/**
 * The files of Debian `packages` and their dependencies as this machine has them installed — what
 * `apt-get install --no-install-recommends` puts into a debian:bookworm-slim image, documentation left out
 * as there — with the links of the alternatives they provide (`/usr/sbin/iptables` -> `/etc/alternatives/…`).
 */
export function debianPackagesLayer(packages: string[]): ImageLayer {
  const items: LayerItem[] = [];
  const files = new Set<string>();
  for (const name of debianPackageClosure(packages)) {
    for (const path of dpkgQuery(["-L", name]).split("\n")) {
      if (!path.startsWith("/") || path === "/." || SLIM_EXCLUDED.test(path) || !existsSync(path)) continue;
      const stat = lstatSync(path);
      if (stat.isDirectory()) continue;
      files.add(path);
      items.push(
        stat.isSymbolicLink()
          ? { kind: "symlink", to: path, target: readlinkSync(path) }
          : { kind: "file", to: path, from: path },
      );
    }
  }
  for (const [name, link] of alternativeLinks()) {
    const chosen = join("/etc/alternatives", name);
    if (!existsSync(chosen) || !files.has(readlinkSync(chosen))) continue;
    items.push({ kind: "symlink", to: chosen, target: readlinkSync(chosen) });
    items.push({ kind: "symlink", to: link, target: chosen });
  }
  return { name: `debian-${packages.join("+")}`, items };
}
