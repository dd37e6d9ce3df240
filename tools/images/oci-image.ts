/**
 * OCI images from files on this machine, without a registry or a container engine: each layer is a
 * deterministic tar of host files and generated ones, the image an OCI layout archive that
 * `ctr images import` takes (image-spec v1.1: oci-layout, index.json, blobs/sha256). Layers and archives
 * are cached under `~/.cache/apisnoop/images` by a key over their inputs (paths, sizes, modification
 * times and modes of the host files), so an unchanged image costs a walk of its files.
 */
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join, posix } from "node:path";
import { imageCacheDir } from "./env";
import { type TarEntry, TarWriter } from "./tar-writer";

/** What goes into a layer, at an absolute path in the image. */
export type LayerItem =
  /** A host directory copied recursively (symlinks kept as symlinks), or a single host file. */
  | {
      kind: "tree";
      from: string;
      to: string;
      uid?: number;
      gid?: number;
      skip?: (relative: string) => boolean;
    }
  /** A file from the host (`from`) or with inline `content`. */
  | {
      kind: "file";
      to: string;
      from?: string;
      content?: string | Buffer;
      mode?: number;
      uid?: number;
      gid?: number;
    }
  | { kind: "dir"; to: string; mode?: number; uid?: number; gid?: number }
  | { kind: "symlink"; to: string; target: string };

/** A layer: its name says what it holds (logs, cache file names). */
export interface ImageLayer {
  name: string;
  items: LayerItem[];
}

/** The runtime part of the image configuration (image-spec `config`). */
export interface ImageRuntimeConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  workingDir?: string;
  user?: string;
  exposedPorts?: string[];
  labels?: Record<string, string>;
}

/** An image to build: a full reference (`rig.apisnoop.local/proxy:dev`), its layers and its config. */
export interface ImageRecipe {
  name: string;
  layers: ImageLayer[];
  config: ImageRuntimeConfig;
}

/** A built image: its OCI archive and the digest of its manifest (what containerd lists). */
export interface BuiltImage {
  name: string;
  archive: string;
  manifestDigest: string;
  /** Bytes of all layers (uncompressed). */
  size: number;
  /** True when nothing had to be written: every layer and the archive came from the cache. */
  cached: boolean;
}

const DIR_MODE = 0o755;

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** `/usr/bin/node` -> `usr/bin/node` (tar paths are relative). */
function relativePath(path: string): string {
  const normal = posix.normalize(path).replace(/^\/+/, "").replace(/\/+$/, "");
  if (normal === "" || normal.startsWith("..")) throw new Error(`image path ${path} is not inside the image`);
  return normal;
}

/** Every tar entry of a layer, sorted by path, with missing parent directories added (root-owned, 0755). */
export function layerEntries(layer: ImageLayer): TarEntry[] {
  const entries = new Map<string, TarEntry>();
  const add = (entry: TarEntry) => entries.set(entry.path, entry);
  for (const item of layer.items) {
    const to = relativePath(item.to);
    if (item.kind === "dir") {
      add({ type: "dir", path: to, mode: item.mode ?? DIR_MODE, uid: item.uid, gid: item.gid });
    } else if (item.kind === "symlink") {
      add({ type: "symlink", path: to, target: item.target });
    } else if (item.kind === "file") {
      if (item.content !== undefined) {
        const content = typeof item.content === "string" ? Buffer.from(item.content) : item.content;
        add({ type: "file", path: to, mode: item.mode ?? 0o644, uid: item.uid, gid: item.gid, content });
      } else if (item.from) {
        const stat = statSync(item.from);
        add({
          type: "file",
          path: to,
          mode: item.mode ?? stat.mode & 0o7777,
          uid: item.uid,
          gid: item.gid,
          source: item.from,
          size: stat.size,
        });
      } else {
        throw new Error(`layer ${layer.name}: ${item.to} has neither content nor from`);
      }
    } else {
      const visit = (host: string, path: string, relative: string) => {
        if (relative && item.skip?.(relative)) return;
        const stat = lstatSync(host);
        const owner = { uid: item.uid, gid: item.gid };
        if (stat.isSymbolicLink()) {
          add({ type: "symlink", path, target: readlinkSync(host), ...owner });
        } else if (stat.isDirectory()) {
          add({ type: "dir", path, mode: stat.mode & 0o7777, ...owner });
          for (const name of readdirSync(host).sort()) {
            visit(join(host, name), `${path}/${name}`, relative ? `${relative}/${name}` : name);
          }
        } else if (stat.isFile()) {
          add({ type: "file", path, mode: stat.mode & 0o7777, source: host, size: stat.size, ...owner });
        }
        // Sockets, FIFOs and devices are never part of an image.
      };
      visit(item.from, to, "");
    }
  }
  for (const path of [...entries.keys()]) {
    for (let parent = posix.dirname(path); parent !== "."; parent = posix.dirname(parent)) {
      if (!entries.has(parent)) entries.set(parent, { type: "dir", path: parent, mode: DIR_MODE });
    }
  }
  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** A key over everything a layer is made of: entry metadata, inline contents, host files' size and mtime. */
function layerKey(entries: TarEntry[]): string {
  const hash = createHash("sha256");
  for (const entry of entries) {
    const { content, ...meta } = entry as TarEntry & { content?: Buffer };
    hash.update(JSON.stringify(meta));
    if (content) hash.update(content);
    if (entry.type === "file" && entry.source) hash.update(String(statSync(entry.source).mtimeMs));
    hash.update("\0");
  }
  return hash.digest("hex");
}

/** Writes (or finds in the cache) one layer blob; returns its digest and size. */
function buildLayer(layer: ImageLayer, cache: string): { digest: string; size: number; cached: boolean } {
  const entries = layerEntries(layer);
  const index = join(cache, "layers", `${layer.name.replace(/[^\w.-]/g, "_")}-${layerKey(entries)}.json`);
  if (existsSync(index)) {
    const known = JSON.parse(readFileSync(index, "utf8")) as { digest: string; size: number };
    const blob = blobPath(cache, known.digest);
    if (existsSync(blob)) {
      // In use: pruning spares what was used recently.
      const now = new Date();
      utimesSync(blob, now, now);
      return { ...known, cached: true };
    }
  }
  mkdirSync(join(cache, "blobs", "sha256"), { recursive: true });
  mkdirSync(join(cache, "layers"), { recursive: true });
  const temporary = join(cache, "blobs", `.layer-${process.pid}-${Date.now()}`);
  const tar = new TarWriter(temporary);
  for (const entry of entries) tar.add(entry);
  const { digest, size } = tar.finish();
  renameSync(temporary, blobPath(cache, digest));
  writeFileSync(index, JSON.stringify({ digest, size }));
  return { digest, size, cached: false };
}

function blobPath(cache: string, digest: string): string {
  return join(cache, "blobs", "sha256", digest.replace(/^sha256:/, ""));
}

/** Stores a JSON document as a blob; returns its descriptor fields. */
function writeJsonBlob(cache: string, document: unknown): { digest: string; size: number } {
  const data = Buffer.from(JSON.stringify(document));
  const digest = `sha256:${sha256(data)}`;
  const path = blobPath(cache, digest);
  if (!existsSync(path)) writeFileSync(path, data);
  return { digest, size: data.length };
}

/** `rig.apisnoop.local/proxy:dev` -> `dev`; a reference must carry an explicit tag. */
export function imageTag(name: string): string {
  const tag = /:([\w][\w.-]{0,127})$/.exec(name.slice(name.lastIndexOf("/") + 1))?.[1];
  if (!tag) throw new Error(`image name ${name} has no tag`);
  return tag;
}

/**
 * Builds `recipe` into an OCI archive under the image cache (layers reused across images and runs).
 * @throws Error when a host file named by the recipe is missing.
 */
export function buildImage(recipe: ImageRecipe, log: (line: string) => void = () => {}): BuiltImage {
  const cache = imageCacheDir();
  mkdirSync(join(cache, "blobs", "sha256"), { recursive: true });
  const started = Date.now();
  const layers = recipe.layers.map((layer) => ({ layer, ...buildLayer(layer, cache) }));
  const diffIds = layers.map((l) => l.digest);
  const { config } = recipe;
  const imageConfig = writeJsonBlob(cache, {
    architecture: "amd64",
    os: "linux",
    config: {
      ...(config.user !== undefined && { User: config.user }),
      ...(config.env && { Env: config.env }),
      ...(config.entrypoint && { Entrypoint: config.entrypoint }),
      ...(config.cmd && { Cmd: config.cmd }),
      ...(config.workingDir && { WorkingDir: config.workingDir }),
      ...(config.exposedPorts && {
        ExposedPorts: Object.fromEntries(config.exposedPorts.map((p) => [p, {}])),
      }),
      ...(config.labels && { Labels: config.labels }),
    },
    rootfs: { type: "layers", diff_ids: diffIds },
    history: layers.map(({ layer }) => ({ created_by: `apisnoop tools/images: ${layer.name}` })),
  });
  const manifest = writeJsonBlob(cache, {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...imageConfig },
    layers: layers.map((l) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: l.digest,
      size: l.size,
    })),
  });
  const size = layers.reduce((sum, l) => sum + l.size, 0);
  const archive = join(
    cache,
    "archives",
    `${recipe.name.replace(/[^\w.-]/g, "_")}-${manifest.digest.slice(7, 23)}.tar`,
  );
  const layersCached = layers.every((l) => l.cached);
  const digests = [...new Set([imageConfig.digest, manifest.digest, ...diffIds])];
  if (existsSync(archive)) {
    const now = new Date();
    utimesSync(archive, now, now);
    return { name: recipe.name, archive, manifestDigest: manifest.digest, size, cached: layersCached };
  }
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          platform: { architecture: "amd64", os: "linux" },
          annotations: {
            "io.containerd.image.name": recipe.name,
            "org.opencontainers.image.ref.name": imageTag(recipe.name),
          },
        },
      ],
    }),
  );
  mkdirSync(join(cache, "archives"), { recursive: true });
  const temporary = `${archive}.${process.pid}.tmp`;
  const tar = new TarWriter(temporary);
  tar.add({
    type: "file",
    path: "oci-layout",
    mode: 0o644,
    content: Buffer.from('{"imageLayoutVersion":"1.0.0"}'),
  });
  tar.add({ type: "file", path: "index.json", mode: 0o644, content: index });
  tar.add({ type: "dir", path: "blobs", mode: DIR_MODE });
  tar.add({ type: "dir", path: "blobs/sha256", mode: DIR_MODE });
  for (const digest of digests) {
    const path = blobPath(cache, digest);
    tar.add({
      type: "file",
      path: `blobs/sha256/${digest.slice(7)}`,
      mode: 0o644,
      source: path,
      size: statSync(path).size,
    });
  }
  tar.finish();
  renameSync(temporary, archive);
  writeFileSync(`${archive}.json`, JSON.stringify({ name: recipe.name, digests }));
  pruneImageCache(cache, archive);
  log(
    `image ${recipe.name}: ${layers.length} layer(s), ${(size / 1e6).toFixed(1)} MB, built in ${((Date.now() - started) / 1000).toFixed(1)}s`,
  );
  return { name: recipe.name, archive, manifestDigest: manifest.digest, size, cached: false };
}

/** Files of the cache younger than this are never pruned: another process may be building with them. */
const PRUNE_GRACE_MS = 10 * 60_000;

function oldEnough(path: string): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs > PRUNE_GRACE_MS;
  } catch {
    return false;
  }
}

/**
 * Keeps the image cache to what the newest build of each image needs: older archives of the image that
 * `kept` was built for, and blobs, layer records and build stages nothing kept refers to, are deleted once
 * they have not been used for {@link PRUNE_GRACE_MS} (every change of the sources makes new ones, hundreds
 * of megabytes for the web image).
 */
export function pruneImageCache(cache: string, kept: string): void {
  const archives = join(cache, "archives");
  const family = kept.slice(0, kept.lastIndexOf("-") + 1);
  for (const name of readdirSync(archives)) {
    const path = join(archives, name);
    if (path.startsWith(family) && path.endsWith(".tar") && path !== kept && oldEnough(path)) {
      rmSync(path, { force: true });
      rmSync(`${path}.json`, { force: true });
    }
  }
  const referenced = new Set<string>();
  for (const name of readdirSync(archives).filter((n) => n.endsWith(".tar.json"))) {
    try {
      for (const digest of (JSON.parse(readFileSync(join(archives, name), "utf8")) as { digests: string[] })
        .digests) {
        referenced.add(digest.replace(/^sha256:/, ""));
      }
    } catch {
      // being written
    }
  }
  const blobs = join(cache, "blobs", "sha256");
  for (const name of readdirSync(blobs)) {
    if (!referenced.has(name) && oldEnough(join(blobs, name))) rmSync(join(blobs, name), { force: true });
  }
  const layerRecords = join(cache, "layers");
  for (const name of existsSync(layerRecords) ? readdirSync(layerRecords) : []) {
    const path = join(layerRecords, name);
    try {
      const { digest } = JSON.parse(readFileSync(path, "utf8")) as { digest: string };
      if (!existsSync(blobPath(cache, digest)) && oldEnough(path)) rmSync(path, { force: true });
    } catch {
      // being written
    }
  }
  // Build stages: the newest of each name stays.
  const stages = join(cache, "stages");
  const byName = new Map<string, Array<{ path: string; mtime: number }>>();
  for (const name of existsSync(stages) ? readdirSync(stages) : []) {
    const path = join(stages, name);
    const family = name.replace(/-[0-9a-f]{24}(\..*)?$/, "");
    byName.set(family, [...(byName.get(family) ?? []), { path, mtime: statSync(path).mtimeMs }]);
  }
  for (const entries of byName.values()) {
    entries.sort((a, b) => b.mtime - a.mtime);
    for (const { path } of entries.slice(1))
      if (oldEnough(path)) rmSync(path, { recursive: true, force: true });
  }
}
