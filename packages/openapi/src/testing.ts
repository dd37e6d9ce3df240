import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { buildCatalog } from "./catalog";
import { parseSpec } from "./spec-source";
import type { EndpointCatalog } from "./types";

/**
 * Test support: the Kubernetes reference data in `../shared/k8s/` beside the checkout (never copied into
 * the project). `APISNOOP_SHARED_K8S` points elsewhere when needed.
 */
export const SHARED_K8S =
  process.env.APISNOOP_SHARED_K8S ??
  path.resolve(fileURLToPath(import.meta.url), "../../../../../shared/k8s");

/** Minor versions of the releases whose spec and apisnoop coverage are in shared/k8s. */
export const SHARED_RELEASES = [28, 29, 30, 31, 32, 33, 34, 35, 36].map((minor) => `1.${minor}`);

/** Path of a release's swagger spec in shared/k8s. */
export function sharedSpecPath(release: string): string {
  return path.join(SHARED_K8S, "openapi", `v${release}.swagger.json.gz`);
}

const catalogs = new Map<string, EndpointCatalog>();

/** The endpoint catalog of a shared release (cached per process). */
export function sharedCatalog(release: string): EndpointCatalog {
  let catalog = catalogs.get(release);
  if (!catalog) {
    const file = sharedSpecPath(release);
    catalog = buildCatalog(parseSpec(readFileSync(file), file), release);
    catalogs.set(release, catalog);
  }
  return catalog;
}

/** One endpoint of apisnoop's published coverage JSON. */
export interface ApisnoopEndpoint {
  endpoint: string;
  path: string;
  level: string;
  category: string;
  group: string | null;
  version: string | null;
  kind: string | null;
  action: string | null;
  description: string | null;
  tested: boolean;
  conf_tested: boolean;
  tests: string[];
}

/** apisnoop's published coverage for a shared release. */
export function sharedApisnoopCoverage(release: string): {
  endpoints: ApisnoopEndpoint[];
  "total endpoints": number;
  "tested endpoints": number;
} {
  return JSON.parse(
    gunzipSync(readFileSync(path.join(SHARED_K8S, "apisnoop", `${release}.0.json.gz`))).toString("utf8"),
  );
}

/** A seeded pseudo-random generator (mulberry32) for tests and benchmarks of every package: runs replay. */
export { SeededChoices, seededRandom } from "./url-corpus";
