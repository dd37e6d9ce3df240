import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, type ImageRecipe, imageTag } from "./oci-image";

const dir = mkdtempSync(join(tmpdir(), "oci-image-"));
const longName = `${"deep/".repeat(30)}file-with-a-long-name.txt`;
let saved: string | undefined;

function recipe(content = "hello"): ImageRecipe {
  return {
    name: "rig.apisnoop.local/test:dev",
    layers: [
      {
        name: "files",
        items: [
          { kind: "tree", from: join(dir, "src"), to: "/app" },
          { kind: "file", to: "/app/inline.txt", content },
          { kind: "dir", to: "/var/lib/owned", uid: 1000, gid: 1000, mode: 0o750 },
          { kind: "symlink", to: "/bin/sh", target: "/bin/busybox" },
        ],
      },
    ],
    config: { entrypoint: ["/bin/sh"], user: "1000" },
  };
}

beforeAll(() => {
  saved = process.env.APISNOOP_IMAGE_CACHE;
  process.env.APISNOOP_IMAGE_CACHE = join(dir, "cache");
  mkdirSync(join(dir, "src", ...longName.split("/").slice(0, -1)), { recursive: true });
  writeFileSync(join(dir, "src", longName), "long\n");
  writeFileSync(join(dir, "src", "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
});
afterAll(() => {
  if (saved === undefined) delete process.env.APISNOOP_IMAGE_CACHE;
  else process.env.APISNOOP_IMAGE_CACHE = saved;
  rmSync(dir, { recursive: true, force: true });
});

describe("buildImage", () => {
  it("gives equal inputs equal digests and serves the second build from the cache", () => {
    const first = buildImage(recipe());
    const second = buildImage(recipe());
    expect(second.manifestDigest).toBe(first.manifestDigest);
    expect(second.cached).toBe(true);
    expect(buildImage(recipe("other")).manifestDigest).not.toBe(first.manifestDigest);
  });

  it("writes an OCI layout whose layer GNU tar extracts with the given owners, modes, links and long names", () => {
    const image = buildImage(recipe());
    const out = join(dir, "out");
    mkdirSync(out, { recursive: true });
    execFileSync("tar", ["-xf", image.archive, "-C", out]);
    const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8"));
    expect(index.manifests[0].annotations["io.containerd.image.name"]).toBe("rig.apisnoop.local/test:dev");
    expect(`sha256:${index.manifests[0].digest.slice(7)}`).toBe(image.manifestDigest);
    const manifest = JSON.parse(
      readFileSync(join(out, "blobs", "sha256", image.manifestDigest.slice(7)), "utf8"),
    );
    const layer = join(out, "blobs", "sha256", manifest.layers[0].digest.slice(7));
    const listing = execFileSync("tar", ["--numeric-owner", "-tvf", layer], { encoding: "utf8" });
    expect(listing).toMatch(/^drwxr-x--- 1000\/1000 .* var\/lib\/owned\/$/m);
    expect(listing).toMatch(/^lrwxrwxrwx 0\/0 .* bin\/sh -> \/bin\/busybox$/m);
    expect(listing).toMatch(/^-rwxr-xr-x 0\/0 .* app\/run\.sh$/m);
    const rootfs = join(dir, "rootfs");
    mkdirSync(rootfs);
    execFileSync("tar", ["-xf", layer, "-C", rootfs]);
    expect(readFileSync(join(rootfs, "app", longName), "utf8")).toBe("long\n");
    expect(readFileSync(join(rootfs, "app", "inline.txt"), "utf8")).toBe("hello");
    const config = JSON.parse(
      readFileSync(join(out, "blobs", "sha256", manifest.config.digest.slice(7)), "utf8"),
    );
    expect(config.rootfs.diff_ids).toEqual([manifest.layers[0].digest]);
    expect(config.config).toMatchObject({ Entrypoint: ["/bin/sh"], User: "1000" });
  });

  it("needs a tag in the image name", () => {
    expect(imageTag("rig.apisnoop.local:5000/a/b:v1.2")).toBe("v1.2");
    expect(() => imageTag("rig.apisnoop.local:5000/a/b")).toThrow(/has no tag/);
  });
});
