/**
 * The layers made of this machine's files make images that run on their own: an image of the system,
 * busybox, Node.js and an npm package's closure is extracted into an empty directory and run there with
 * chroot, so nothing of the host's filesystem is reachable from inside.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../rig/rig";
import {
  busyboxLayer,
  debianPackageClosure,
  nodeModulesLayer,
  nodeRuntimeLayer,
  packageClosure,
  sharedLibraries,
  systemLayer,
} from "./base-layers";
import { buildImage } from "./oci-image";

const dir = mkdtempSync(join(tmpdir(), "base-layers-"));
let saved: string | undefined;

beforeAll(() => {
  saved = process.env.APISNOOP_IMAGE_CACHE;
  process.env.APISNOOP_IMAGE_CACHE = join(dir, "cache");
});
afterAll(() => {
  if (saved === undefined) delete process.env.APISNOOP_IMAGE_CACHE;
  else process.env.APISNOOP_IMAGE_CACHE = saved;
  rmSync(dir, { recursive: true, force: true });
});

/** A package directory with a package.json listing `dependencies`. */
function pkg(path: string, dependencies: Record<string, string> = {}, optional: Record<string, string> = {}) {
  mkdirSync(path, { recursive: true });
  writeFileSync(
    join(path, "package.json"),
    JSON.stringify({ name: path, dependencies, optionalDependencies: optional }),
  );
}

describe("packageClosure", () => {
  it("resolves dependencies as Node does: nested first, then the top level; missing optional ones skipped", () => {
    const nm = join(dir, "closure", "node_modules");
    pkg(join(nm, "app"), { lib: "1", "@scope/util": "1" }, { "fsevents-like": "1" });
    // app's own lib@2 shadows the top-level lib@1 for app; util gets the top-level one.
    pkg(join(nm, "app", "node_modules", "lib"), { leaf: "1" });
    pkg(join(nm, "lib"));
    pkg(join(nm, "@scope", "util"), { lib: "1" });
    pkg(join(nm, "leaf"));
    pkg(join(nm, "unrelated"));
    expect(packageClosure(nm, ["app"])).toEqual(["@scope/util", "app", "leaf", "lib"]);
    expect(packageClosure(nm, ["leaf"])).toEqual(["leaf"]);
  });
});

describe("debianPackageClosure", () => {
  it("follows Depends and Pre-Depends of what is installed, and names a package that is not", () => {
    const closure = debianPackageClosure(["busybox-static"]);
    expect(closure).toContain("busybox-static");
    const iptables = debianPackageClosure(["iptables"]);
    expect(iptables).toEqual(expect.arrayContaining(["iptables", "libc6", "libxtables12"]));
    expect(() => debianPackageClosure(["no-such-package-apisnoop"])).toThrow(
      "Debian package no-such-package-apisnoop is not installed on this machine (add it to .ci/apt-packages)",
    );
  });
});

describe("sharedLibraries", () => {
  it("lists the dynamic loader and libc of a dynamic binary, and nothing for a static one", () => {
    const paths = sharedLibraries([process.execPath]).map((library) => library.path);
    expect(paths.some((path) => /\/ld-linux-x86-64\.so\.2$/.test(path))).toBe(true);
    expect(paths.some((path) => /\/libc\.so\.6$/.test(path))).toBe(true);
    expect(sharedLibraries(["/bin/busybox"])).toEqual([]);
  });
});

describe.skipIf(process.getuid?.() !== 0)("an image of the base layers, alone in a chroot", () => {
  const rootfs = join(dir, "rootfs");

  beforeAll(() => {
    const image = buildImage({
      name: "rig.apisnoop.local/base-layers-test:dev",
      layers: [
        systemLayer(),
        busyboxLayer(),
        nodeRuntimeLayer(),
        nodeModulesLayer("yaml", join(repoRoot, "node_modules"), ["js-yaml"], "/app"),
        {
          name: "app",
          items: [
            {
              kind: "file",
              to: "/app/main.js",
              content: 'console.log(JSON.stringify(require("js-yaml").load("a: [1, 2]")))\n',
            },
          ],
        },
      ],
      config: { entrypoint: ["/usr/local/bin/node", "/app/main.js"] },
    });
    const oci = join(dir, "oci");
    mkdirSync(oci);
    execFileSync("tar", ["-xf", image.archive, "-C", oci]);
    const manifest = JSON.parse(
      readFileSync(join(oci, "blobs", "sha256", image.manifestDigest.slice(7)), "utf8"),
    ) as { layers: Array<{ digest: string }> };
    mkdirSync(rootfs);
    for (const layer of manifest.layers) {
      execFileSync("tar", ["-xf", join(oci, "blobs", "sha256", layer.digest.slice(7)), "-C", rootfs]);
    }
  }, 120_000);

  const inImage = (command: string[]) =>
    execFileSync("/usr/sbin/chroot", [rootfs, ...command], {
      encoding: "utf8",
      env: { PATH: "/usr/local/bin:/bin:/usr/bin" },
    });

  it("runs the host's Node.js with only the libraries the layer copied, and the package's dependencies", () => {
    expect(JSON.parse(inImage(["/usr/local/bin/node", "/app/main.js"]))).toEqual({ a: [1, 2] });
  });

  it("has a shell, the image users and a world-writable /tmp", () => {
    expect(inImage(["/bin/sh", "-c", "echo ok"])).toBe("ok\n");
    expect(inImage(["id", "-u", "node"])).toBe("1000\n");
    expect(inImage(["id", "-u", "postgres"])).toBe("70\n");
    expect(inImage(["stat", "-c", "%a", "/tmp"])).toBe("1777\n");
  });
});
