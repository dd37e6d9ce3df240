import path from "node:path";
import {
  type ApisnoopCoverage,
  type IneligibleEndpoint,
  parseApisnoopCoverage,
  parseIneligible,
  upstreamE2eBatch,
} from "@apisnoop/coverage";
import { loadRelease, type PrismaClient } from "@apisnoop/db";
import {
  buildCatalog,
  type EndpointCatalog,
  getWithKubeconfig,
  ineligibleEndpointsSource,
  isReleaseName,
  kubeconfigErrorLine,
  loadSpec,
  releaseSources,
} from "@apisnoop/openapi";
import type { IngestBatch } from "@apisnoop/protocol";
import { KubeConfig } from "@kubernetes/client-node";
import { readReferenceJson } from "./reference-files";

export interface ReleaseLoadingOptions {
  /** A folder laid out like ../shared/k8s; files missing there are downloaded. */
  referenceDir?: string | undefined;
  /** Where downloads are cached. */
  cacheDir: string;
  log: (line: string) => void;
}

/** A release now in the database, and apisnoop's published coverage of it when that could be read. */
export interface LoadedRelease {
  release: string;
  endpoints: number;
  origin: string;
  upstream: ApisnoopCoverage | null;
  /** That coverage as an ingest batch of the source upstream-e2e, to import (null without it). */
  upstreamBatch: IngestBatch | null;
  /** apisnoop's ineligible endpoints as stored with it (empty when the list could not be read). */
  ineligible: IneligibleEndpoint[];
}

/**
 * Loads a published release (spec, ineligible endpoints, apisnoop's e2e coverage) from the reference
 * folder or the public URLs into the database. The coverage JSON is optional: without it the dashboard
 * just has no "tested upstream" marks.
 */
export async function loadPublishedRelease(
  prisma: PrismaClient,
  release: string,
  options: ReleaseLoadingOptions & { isDefault?: boolean },
): Promise<LoadedRelease> {
  const sources = releaseSources(release, options.referenceDir);
  const loaded = await loadSpec(sources.spec, { cacheDir: path.join(options.cacheDir, "specs") });
  return storeRelease(prisma, buildCatalog(loaded.spec, release), loaded.origin, options);
}

/**
 * Loads the spec of the kubeconfig's current cluster as its release, made the default. Rejects with a
 * one-line message when the cluster cannot be reached.
 */
export async function loadClusterRelease(
  prisma: PrismaClient,
  cluster: { kubeconfig?: string | undefined; context?: string | undefined },
  options: ReleaseLoadingOptions,
): Promise<LoadedRelease> {
  await probeCluster(cluster);
  // A busy apiserver takes a while to assemble /openapi/v2 (several MB) the first time.
  const loaded = await withTimeout(
    loadSpec("live", { kubeconfig: cluster.kubeconfig, context: cluster.context }),
    180_000,
    "the cluster's /openapi/v2",
  );
  const release = loaded.release ?? "cluster";
  return storeRelease(prisma, buildCatalog(loaded.spec, release), `cluster ${loaded.origin}`, {
    ...options,
    isDefault: true,
  });
}

/** Rejects within 10 s when the kubeconfig's cluster does not answer /version (or the kubeconfig is bad). */
async function probeCluster(cluster: {
  kubeconfig?: string | undefined;
  context?: string | undefined;
}): Promise<void> {
  const config = new KubeConfig();
  try {
    if (cluster.kubeconfig) config.loadFromFile(cluster.kubeconfig);
    else config.loadFromDefault();
  } catch (error) {
    // The message is logged: js-yaml's would quote the kubeconfig's lines around a syntax error.
    throw new Error(
      `cannot load kubeconfig ${cluster.kubeconfig ?? "(default)"}: ${kubeconfigErrorLine(error)}`,
    );
  }
  if (cluster.context) config.setCurrentContext(cluster.context);
  const server = config.getCurrentCluster()?.server;
  if (!server) throw new Error("the kubeconfig has no current cluster");
  // Its own deadline also closes the connection, which a race with a timer would leave open.
  await getWithKubeconfig(config, server, "/version", 10_000);
}

/** Rejects when `promise` takes longer than `ms` (an unreachable cluster can take minutes to fail). */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from ${what} within ${ms / 1000} s`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

async function storeRelease(
  prisma: PrismaClient,
  catalog: EndpointCatalog,
  origin: string,
  options: ReleaseLoadingOptions & { isDefault?: boolean },
): Promise<LoadedRelease> {
  const release = catalog.release as string;
  const [ineligible, upstream] = await Promise.all([
    readIneligible(options).catch((error: Error) => {
      options.log(
        `ineligible endpoints not read (${error.message}); every stable endpoint counts as eligible`,
      );
      return [];
    }),
    readUpstreamCoverage(release, options).catch((error: Error) => {
      options.log(`apisnoop's e2e coverage of ${release} not read (${error.message})`);
      return null;
    }),
  ]);
  await loadRelease(prisma, catalog, { origin, ineligible, isDefault: options.isDefault ?? false });
  const upstreamBatch = upstream ? upstreamE2eBatch(upstream, catalog, Date.now()) : null;
  return { release, endpoints: catalog.endpoints.length, origin, upstream, upstreamBatch, ineligible };
}

async function readIneligible(options: ReleaseLoadingOptions): Promise<IneligibleEndpoint[]> {
  const location = ineligibleEndpointsSource(options.referenceDir);
  return [...parseIneligible(await readReferenceJson(location, options.cacheDir)).values()];
}

async function readUpstreamCoverage(
  release: string,
  options: ReleaseLoadingOptions,
): Promise<ApisnoopCoverage | null> {
  if (!isReleaseName(release)) return null;
  const location = releaseSources(release, options.referenceDir).apisnoopCoverage;
  return parseApisnoopCoverage(await readReferenceJson(location, options.cacheDir));
}
