import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import https from "node:https";
import { homedir } from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import type { KubeConfig } from "@kubernetes/client-node";
import { kubeconfigErrorLine } from "./kubeconfig-error";
import type { SwaggerSpec } from "./types";

/** Where a spec comes from: "live" (the kubeconfig's cluster), an http(s) URL, or a file path. */
export type SpecSourceKind = "live" | "url" | "file";

export interface LoadSpecOptions {
  /** Kubeconfig file for "live"; default: $KUBECONFIG or ~/.kube/config, as kubectl does. */
  kubeconfig?: string;
  /** Context for "live"; default: the kubeconfig's current context. */
  context?: string;
  /** Directory for downloaded specs, keyed by URL; default ~/.cache/apisnoop/specs. */
  cacheDir?: string;
  /** Download progress for URLs: bytes so far and the total when the server says it. */
  onProgress?: (received: number, total: number | null) => void;
}

/** A loaded spec and what is known about where it came from. */
export interface LoadedSpec {
  spec: SwaggerSpec;
  /** "1.34" when known: from the live cluster's /version, or a `v1.34` / `1.34.0` in the file name or URL. */
  release: string | null;
  /** A human-readable origin: the file, the URL, or the cluster's server address. */
  origin: string;
}

/** Classifies a `--spec` argument. */
export function specSourceKind(source: string): SpecSourceKind {
  if (source === "live") return "live";
  if (/^https?:\/\//i.test(source)) return "url";
  return "file";
}

/**
 * Loads a Kubernetes swagger v2 spec from a file (plain or gzip), an http(s) URL (cached on disk by URL),
 * or "live" from a cluster's `/openapi/v2` with the kubeconfig's credentials.
 * Throws an Error with a one-line message when the source cannot be read or is not a swagger v2 spec.
 */
export async function loadSpec(source: string, options: LoadSpecOptions = {}): Promise<LoadedSpec> {
  if (specSourceKind(source) === "live") return loadLiveSpec(options);
  const body = await readSource(source, {
    ...options,
    label: "spec file",
    validate: (b) => parseSpec(b, source),
  });
  const origin = specSourceKind(source) === "file" ? path.resolve(source) : source;
  return { spec: parseSpec(body, source), release: releaseFromName(source), origin };
}

/**
 * The bytes of a file or an http(s) URL (gunzipped when gzip), downloads cached on disk by URL with
 * progress reported. `validate` throws for content that must not be cached. One-line errors.
 */
export async function readSource(
  source: string,
  options: Pick<LoadSpecOptions, "cacheDir" | "onProgress"> & {
    validate?: (body: Buffer) => unknown;
    /** What the file is, for error messages ("spec file"). */
    label?: string;
  } = {},
): Promise<Buffer> {
  if (specSourceKind(source) === "url") return gunzipIfNeeded(await downloadCached(source, options), source);
  try {
    return gunzipIfNeeded(await readFile(source), source);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!code) throw error;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code;
    throw new Error(`cannot read ${options.label ?? "file"} ${source}: ${why}`);
  }
}

/**
 * A spec's size, at most, compressed or not. Kubernetes' own is a few MiB and hundreds of CRDs make it
 * tens; past this a live spec (`/openapi/v2`, from an upstream that may be hostile) or a gzip bomb is
 * refused instead of taking the process's memory.
 */
export const MAX_SPEC_BYTES = 256 * 1024 * 1024;

function gunzipIfNeeded(body: Buffer, origin: string): Buffer {
  if (body[0] !== 0x1f || body[1] !== 0x8b) return body;
  try {
    return gunzipSync(body, { maxOutputLength: MAX_SPEC_BYTES });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
      throw new Error(`${origin} is larger than ${MAX_SPEC_BYTES} bytes unzipped`);
    throw new Error(`${origin} is not valid gzip`);
  }
}

/** Parses a spec body (JSON, optionally gzip-compressed) and checks it is swagger v2 with paths. */
export function parseSpec(body: Buffer, origin: string): SwaggerSpec {
  let text: string;
  try {
    text = gunzipIfNeeded(body, origin).toString("utf8");
  } catch (error) {
    throw new Error(`spec ${(error as Error).message}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new Error(`spec ${origin} is not valid JSON (${(error as Error).message})`);
  }
  const spec = document as Partial<SwaggerSpec> | null;
  if (
    !spec ||
    typeof spec !== "object" ||
    spec.swagger !== "2.0" ||
    typeof spec.paths !== "object" ||
    !spec.paths
  ) {
    throw new Error(
      `spec ${origin} is not a swagger 2.0 document with paths (is it the Kubernetes /openapi/v2?)`,
    );
  }
  return spec as SwaggerSpec;
}

/** "1.34" from names like `v1.34.swagger.json.gz`, `.../v1.34.0/api/...` or `1.34.0.json`. */
export function releaseFromName(name: string): string | null {
  const found =
    /(?:^|[^\d.])v?1\.(\d{1,2})(?:\.\d+)?(?=[^\d]|$)/.exec(path.basename(name)) ??
    /\/v1\.(\d{1,2})\.\d+\//.exec(name);
  return found ? `1.${found[1]}` : null;
}

const DOWNLOAD_FAILED = Symbol.for("apisnoop.openapi.DownloadError");

/**
 * A download that failed: no network, no name resolution, a timeout or an HTTP error. Apps catch it to
 * say how to do without the network (see {@link REFERENCE_LAYOUT}). `instanceof` holds across copies of
 * this module (Next bundles its own copy of a package for pages).
 */
export class DownloadError extends Error {
  readonly [DOWNLOAD_FAILED] = true;

  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && DOWNLOAD_FAILED in value;
  }

  constructor(
    /** What could not be downloaded. */
    readonly url: string,
    why: string,
  ) {
    super(`cannot download ${url}: ${why}`);
    this.name = "DownloadError";
  }
}

async function downloadCached(
  url: string,
  options: Pick<LoadSpecOptions, "cacheDir" | "onProgress"> & { validate?: (body: Buffer) => unknown },
): Promise<Buffer> {
  const cacheDir = options.cacheDir ?? path.join(homedir(), ".cache", "apisnoop", "specs");
  const file = path.join(cacheDir, `${createHash("sha256").update(url).digest("hex").slice(0, 32)}.json`);
  try {
    return await readFile(file);
  } catch {
    // not cached yet
  }
  let response: Response;
  try {
    // A stalled download fails instead of hanging the command or the dashboard's start.
    response = await fetch(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(120_000),
    });
  } catch (error) {
    const cause = (error as Error).cause as Error | undefined;
    throw new DownloadError(url, cause?.message ?? (error as Error).message);
  }
  if (!response.ok || !response.body) throw new DownloadError(url, `HTTP ${response.status}`);
  const total = Number(response.headers.get("content-length")) || null;
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of response.body) {
    chunks.push(Buffer.from(chunk));
    received += chunk.length;
    options.onProgress?.(received, total);
  }
  const body = Buffer.concat(chunks);
  options.validate?.(body); // never cache what is not what the caller wants
  await mkdir(cacheDir, { recursive: true });
  await writeFile(`${file}.tmp`, body);
  await rename(`${file}.tmp`, file);
  return body;
}

async function loadLiveSpec(options: LoadSpecOptions): Promise<LoadedSpec> {
  // client-node takes seconds to import: only "live" pays for it.
  const { KubeConfig } = await import("./kube-config");
  const config = new KubeConfig();
  try {
    if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
    else config.loadFromDefault();
  } catch (error) {
    throw new Error(
      `cannot load kubeconfig ${options.kubeconfig ?? "(default)"}: ${kubeconfigErrorLine(error)}`,
    );
  }
  if (options.context) config.setCurrentContext(options.context);
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error(`kubeconfig ${options.kubeconfig ?? "(default)"} has no current cluster`);
  const [specBody, versionBody] = await Promise.all([
    getWithKubeconfig(config, cluster.server, "/openapi/v2"),
    getWithKubeconfig(config, cluster.server, "/version").catch(() => null),
  ]);
  return liveSpecOf(specBody, versionBody, cluster.server);
}

/**
 * A cluster's spec from the bodies of its `/openapi/v2` and `/version` (null when that failed: the release
 * is then unknown). Throws a one-line Error when the spec is not a swagger v2 spec.
 */
export function liveSpecOf(specBody: Buffer, versionBody: Buffer | null, server: string): LoadedSpec {
  let release: string | null = null;
  if (versionBody) {
    try {
      const version = JSON.parse(versionBody.toString("utf8")) as { major?: unknown; minor?: unknown };
      const minor = typeof version.minor === "string" ? version.minor.replace(/\D+$/, "") : "";
      if (typeof version.major === "string" && version.major && minor) release = `${version.major}.${minor}`;
    } catch {
      // Not JSON: the release stays unknown, as when /version cannot be read at all.
    }
  }
  return { spec: parseSpec(specBody, `${server}/openapi/v2`), release, origin: server };
}

/**
 * How long {@link getWithKubeconfig} waits for an answer in all (connect, TLS, answer, body): a busy
 * apiserver takes a while to assemble `/openapi/v2` the first time, and one that never answers (or a
 * balancer in front of a dead one) must not hold a command for ever.
 */
export const KUBECONFIG_GET_TIMEOUT_MS = 180_000;

/**
 * GET `server + apiPath` with the kubeconfig's TLS settings and credentials, within `timeoutMs` and
 * `maxBytes` of body ({@link MAX_SPEC_BYTES}); the body of a status other than 200 is never read.
 */
export async function getWithKubeconfig(
  config: KubeConfig,
  server: string,
  apiPath: string,
  timeoutMs = KUBECONFIG_GET_TIMEOUT_MS,
  maxBytes = MAX_SPEC_BYTES,
): Promise<Buffer> {
  // Relative to the server URL so a path prefix in `server` (`https://host/k8s`) is kept.
  const url = new URL(apiPath.replace(/^\//, ""), server.endsWith("/") ? server : `${server}/`);
  const options: https.RequestOptions = { method: "GET", headers: { accept: "application/json" } };
  await config.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => {
      clearTimeout(deadline);
      reject(error);
      request.destroy();
    };
    const request = https.request(url, options, (response) => {
      if (response.statusCode !== 200) {
        fail(new Error(`GET ${url.pathname} on ${server} answered HTTP ${response.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let length = 0;
      response.on("data", (chunk: Buffer) => {
        length += chunk.length;
        if (length > maxBytes)
          fail(new Error(`GET ${url.pathname} on ${server}: more than ${maxBytes} bytes`));
        else chunks.push(chunk);
      });
      response.on("end", () => {
        clearTimeout(deadline);
        resolve(Buffer.concat(chunks));
      });
      response.on("error", fail);
    });
    const deadline = setTimeout(
      () => fail(new Error(`no answer from ${server} (GET ${url.pathname}) within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    deadline.unref();
    request.on("error", (error) => fail(new Error(`cannot reach ${server}: ${error.message}`)));
    request.end();
  });
}
