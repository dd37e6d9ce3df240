import { readSource } from "@apisnoop/openapi";

/**
 * Reads a reference JSON file (apisnoop's coverage, ineligible endpoints): a local path (plain or gzip)
 * or an https URL, downloaded once into `cacheDir` and read from there afterwards.
 */
export async function readReferenceJson(location: string, cacheDir: string): Promise<unknown> {
  const body = await readSource(location, {
    cacheDir,
    // Never cache a download that is not JSON (an error page, a truncated body).
    validate: (bytes) => (bytes[0] === 0x1f ? undefined : JSON.parse(bytes.toString("utf8"))),
  });
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw new Error(`${location} is not JSON (${(error as Error).message})`);
  }
}
