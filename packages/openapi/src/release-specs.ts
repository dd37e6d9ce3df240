import { existsSync } from "node:fs";
import path from "node:path";
import { isReleaseName } from "./release-name";

/**
 * Where the published data of a Kubernetes release lives: a local reference folder laid out like
 * `../shared/k8s` (the apps' APISNOOP_REFERENCE_DIR setting; tests and CI use it) or else the public URLs
 * (downloaded once and cached by `loadSpec`).
 */
export interface ReleaseSources {
  /** The swagger v2 spec: a file in the reference folder or the kubernetes/kubernetes URL. */
  spec: string;
  /** apisnoop's published coverage JSON for the release. */
  apisnoopCoverage: string;
}

/**
 * The files a reference folder (APISNOOP_REFERENCE_DIR) holds, for messages that tell someone offline how
 * to do without downloads: the published data of each release, fetched once wherever there is network.
 */
export const REFERENCE_LAYOUT =
  "openapi/v1.NN.swagger.json.gz, apisnoop/1.NN.0.json.gz and apisnoop/ineligible_endpoints.json, " +
  "as in kubernetes/kubernetes and kubernetes-sigs/apisnoop";

/** Normalises "1.34", "v1.34", "1.34.0" to "1.34"; throws a one-line error otherwise. */
export function normaliseRelease(release: string): string {
  const short = release.replace(/^v/, "").replace(/\.0$/, "");
  if (!isReleaseName(short)) throw new Error(`not a Kubernetes release: '${release}' (expected e.g. 1.34)`);
  return short;
}

/**
 * The sources of a release's spec and apisnoop coverage: files from `referenceDir` (an app's
 * APISNOOP_REFERENCE_DIR setting) when present there, else the public URLs.
 */
export function releaseSources(release: string, referenceDir: string | undefined): ReleaseSources {
  const short = normaliseRelease(release);
  const localSpec = referenceDir ? path.join(referenceDir, "openapi", `v${short}.swagger.json.gz`) : null;
  const localCoverage = referenceDir ? path.join(referenceDir, "apisnoop", `${short}.0.json.gz`) : null;
  return {
    spec:
      localSpec && existsSync(localSpec)
        ? localSpec
        : `https://raw.githubusercontent.com/kubernetes/kubernetes/v${short}.0/api/openapi-spec/swagger.json`,
    apisnoopCoverage:
      localCoverage && existsSync(localCoverage)
        ? localCoverage
        : `https://raw.githubusercontent.com/kubernetes-sigs/apisnoop/main/resources/coverage/${short}.0.json`,
  };
}

/** apisnoop's list of conformance-ineligible endpoints: from `referenceDir` when there, else its public URL. */
export function ineligibleEndpointsSource(referenceDir?: string): string {
  const local = referenceDir ? path.join(referenceDir, "apisnoop", "ineligible_endpoints.json") : null;
  return local && existsSync(local)
    ? local
    : "https://raw.githubusercontent.com/kubernetes-sigs/apisnoop/main/resources/coverage/ineligible_endpoints.json";
}
