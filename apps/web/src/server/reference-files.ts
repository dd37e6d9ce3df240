import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { gunzipSync } from "node:zlib";

/**
 * Reads a reference JSON file (apisnoop's coverage, ineligible endpoints): a local path (plain or gzip)
 * or an https URL, downloaded once into `cacheDir` and read from there afterwards.
 */
export async function readReferenceJson(location: string, cacheDir: string): Promise<unknown> {
  const body = /^https?:\/\//.test(location)
    ? await downloadCached(location, cacheDir)
    : await readFile(location);
  const text = (body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body).toString("utf8");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${location} is not JSON (${(error as Error).message})`);
  }
}

async function downloadCached(url: string, cacheDir: string): Promise<Buffer> {
  const file = path.join(cacheDir, `${createHash("sha256").update(url).digest("hex").slice(0, 32)}.json`);
  try {
    return await readFile(file);
  } catch {
    // not cached yet
  }
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(60_000),
    });
  } catch (error) {
    throw new Error(`cannot download ${url}: ${(error as Error).cause ?? (error as Error).message}`);
  }
  if (!response.ok) throw new Error(`cannot download ${url}: HTTP ${response.status}`);
  const body = Buffer.from(await response.arrayBuffer());
  JSON.parse(body.toString("utf8")); // never cache something that is not JSON
  await mkdir(cacheDir, { recursive: true });
  await writeFile(`${file}.tmp`, body);
  await rename(`${file}.tmp`, file);
  return body;
}
