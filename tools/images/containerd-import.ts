/**
 * Puts built images into a containerd that kubelet uses (`ctr -n k8s.io images import`), skipping those
 * it already holds at the same manifest digest, so a warm start imports nothing.
 */
import { execFileSync } from "node:child_process";
import type { BuiltImage } from "./oci-image";

/** containerd's namespace for images the CRI plugin (kubelet) sees. */
export const CRI_NAMESPACE = "k8s.io";

function ctr(address: string, args: string[]): string {
  try {
    return execFileSync("ctr", ["--address", address, "--namespace", CRI_NAMESPACE, ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? "").trim();
    throw new Error(`ctr ${args.join(" ")} failed: ${stderr || (error as Error).message}`);
  }
}

/** Image name -> manifest digest of every image containerd holds in the CRI namespace. */
export function listImages(address: string): Map<string, string> {
  const images = new Map<string, string>();
  for (const line of ctr(address, ["images", "list"]).split("\n").slice(1)) {
    const [name, , digest] = line.trim().split(/\s+/);
    if (name && digest?.startsWith("sha256:")) images.set(name, digest);
  }
  return images;
}

/**
 * Imports each image whose name containerd does not hold at the same digest.
 * @returns the names imported (the others were already there).
 */
export function importImages(
  address: string,
  images: readonly BuiltImage[],
  log: (line: string) => void = () => {},
): string[] {
  const held = listImages(address);
  const imported: string[] = [];
  for (const image of images) {
    if (held.get(image.name) === image.manifestDigest) continue;
    const started = Date.now();
    ctr(address, ["images", "import", "--platform", "linux/amd64", image.archive]);
    const now = listImages(address).get(image.name);
    if (now !== image.manifestDigest) {
      throw new Error(
        `ctr images import ${image.archive}: containerd lists ${image.name} at ${now ?? "nothing"}`,
      );
    }
    log(`image ${image.name} imported in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    imported.push(image.name);
  }
  return imported;
}
