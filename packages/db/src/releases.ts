import {
  compareReleaseNames,
  type Endpoint,
  type EndpointCatalog,
  FieldSchema,
  requestSchemaRef,
} from "@apisnoop/openapi";
import type { PrismaClient } from "./client";
import { NotFoundError } from "./errors";
import { textArray } from "./pg-arrays";

/** One entry of apisnoop's `ineligible_endpoints.json`. */
export interface IneligibleEndpoint {
  endpoint: string;
  reason?: string;
  link?: string;
}

/** A loaded release, as listed for the release picker. */
export interface ReleaseSummary {
  name: string;
  origin: string;
  loadedAt: Date;
  isDefault: boolean;
  /** Endpoints counted by coverage (watch operations excluded). */
  endpoints: number;
}

let releaseLoads = 0;

/**
 * How many times this process stored a release's endpoints: with `loadedAt`, what a cache of a catalog is
 * keyed on (two loads within one millisecond share a `loadedAt`).
 */
export function releaseLoadCount(): number {
  return releaseLoads;
}

/**
 * Stores a release's endpoint catalog, replacing what was stored for it before. An endpoint is
 * conformance-eligible when stable, not deprecated and not in `ineligible` (GUIDE §3); the deprecated
 * `/watch/` operations are stored too, flagged, outside every coverage count. `isDefault` makes it the
 * release the dashboard shows first (the cluster's), taking that flag from any other.
 */
export async function loadRelease(
  prisma: PrismaClient,
  catalog: EndpointCatalog,
  options: {
    origin: string;
    release?: string;
    ineligible?: readonly IneligibleEndpoint[];
    isDefault?: boolean;
  },
): Promise<{ release: string; endpoints: number; watchOperations: number }> {
  const release = options.release ?? catalog.release;
  if (!release) throw new Error("loadRelease: the catalog names no release; pass options.release");
  const ineligible = new Map((options.ineligible ?? []).map((entry) => [entry.endpoint, entry.reason ?? ""]));
  const rows = [...catalog.endpoints, ...catalog.watchOperations].map((endpoint) => ({
    release,
    operationId: endpoint.operationId,
    method: endpoint.method,
    path: endpoint.path,
    level: endpoint.level,
    category: endpoint.category,
    group: endpoint.group,
    version: endpoint.version,
    kind: endpoint.kind,
    action: endpoint.action,
    description: endpoint.description,
    deprecated: endpoint.deprecated,
    conformanceEligible:
      !endpoint.watchOperation &&
      endpoint.level === "stable" &&
      !endpoint.deprecated &&
      !ineligible.has(endpoint.operationId),
    ineligibleReason: ineligible.get(endpoint.operationId) ?? null,
    watchOperation: endpoint.watchOperation,
    requestDefinition: requestDefinitionOf(endpoint),
  }));
  const schema = new FieldSchema(catalog.definitions);
  const definitions = [...new Set(rows.map((row) => row.requestDefinition))].filter(
    (definition): definition is string => definition !== null,
  );
  const fields = definitions.flatMap((definition) =>
    schema.schemaFields(definition).map((field) => [definition, field] as const),
  );
  await prisma.$transaction(async (tx) => {
    if (options.isDefault)
      await tx.release.updateMany({ where: { isDefault: true }, data: { isDefault: false } });
    const isDefault = options.isDefault ?? undefined;
    await tx.release.upsert({
      where: { name: release },
      create: { name: release, origin: options.origin, isDefault: isDefault ?? false },
      update: { origin: options.origin, loadedAt: new Date(), ...(isDefault ? { isDefault } : {}) },
    });
    // The upsert above locks the release's row until commit, so loads of one release by several
    // processes (web replicas starting together) run one after the other, never interleaved.
    await tx.endpoint.deleteMany({ where: { release } });
    await tx.endpoint.createMany({ data: rows });
    await tx.requestSchemaField.deleteMany({ where: { release } });
    await tx.$executeRawUnsafe(
      `INSERT INTO "RequestSchemaField" ("release", "definition", "field")
       SELECT $1, t.definition, t.field FROM unnest($2::text[], $3::text[]) AS t(definition, field)`,
      release,
      textArray(fields.map(([definition]) => definition)),
      textArray(fields.map(([, field]) => field)),
    );
  });
  releaseLoads++;
  return { release, endpoints: catalog.endpoints.length, watchOperations: catalog.watchOperations.length };
}

/** The definition name of an endpoint's request bodies (`requestSchemaRef`), or null without a body. */
function requestDefinitionOf(endpoint: EndpointCatalog["endpoints"][number]): string | null {
  const ref = requestSchemaRef(endpoint);
  return ref ? FieldSchema.definitionName(ref) : null;
}

/** The loaded releases, newest first. */
export async function listReleases(prisma: PrismaClient): Promise<ReleaseSummary[]> {
  const [releases, counts] = await Promise.all([
    prisma.release.findMany(),
    prisma.endpoint.groupBy({ by: ["release"], where: { watchOperation: false }, _count: { _all: true } }),
  ]);
  const byRelease = new Map(counts.map((count) => [count.release, count._count._all]));
  return releases
    .map((release) => ({ ...release, endpoints: byRelease.get(release.name) ?? 0 }))
    .sort((a, b) => compareReleaseNames(b.name, a.name));
}

/**
 * The release a query is about: `name` when loaded, else the default release, else the newest loaded.
 * Throws NotFoundError for a release that is not loaded, or when none is.
 */
export async function resolveRelease(prisma: PrismaClient, name?: string): Promise<string> {
  return (await resolveReleaseLoad(prisma, name)).name;
}

/**
 * Like resolveRelease, with when the release's endpoints were last stored (`loadRelease`): what caches of
 * a release's catalog are keyed on.
 */
export function resolveReleaseLoad(
  prisma: PrismaClient,
  name?: string,
): Promise<{ name: string; loadedAt: Date }> {
  // A view runs several queries at once, each resolving the same release: they share one lookup while
  // it is in flight (never a stored answer, so a release loaded by another process shows at once).
  let pending = lookups.get(prisma);
  if (!pending) {
    pending = new Map();
    lookups.set(prisma, pending);
  }
  const key = name ?? "";
  let lookup = pending.get(key);
  if (!lookup) {
    const started = lookUpRelease(prisma, name);
    lookup = started;
    pending.set(key, started);
    const forget = () => {
      if (pending.get(key) === started) pending.delete(key);
    };
    started.then(forget, forget);
  }
  return lookup;
}

const lookups = new WeakMap<PrismaClient, Map<string, Promise<{ name: string; loadedAt: Date }>>>();

async function lookUpRelease(prisma: PrismaClient, name?: string): Promise<{ name: string; loadedAt: Date }> {
  if (name !== undefined) {
    // Not a raw query: measured, findUnique costs the process less than half the CPU time of one.
    const found = await prisma.release.findUnique({
      where: { name },
      select: { name: true, loadedAt: true },
    });
    if (!found) throw new NotFoundError("release", `release ${name} is not loaded`);
    return found;
  }
  const releases = await prisma.release.findMany({ select: { name: true, isDefault: true, loadedAt: true } });
  const fallback = pickDefaultRelease(releases);
  if (fallback === null) throw new NotFoundError("release", "no release is loaded");
  return releases.find((release) => release.name === fallback) as { name: string; loadedAt: Date };
}

/** The default release's name, else the newest loaded one's, else null. */
export async function defaultReleaseName(prisma: Pick<PrismaClient, "release">): Promise<string | null> {
  return pickDefaultRelease(await prisma.release.findMany({ select: { name: true, isDefault: true } }));
}

function pickDefaultRelease(releases: ReadonlyArray<{ name: string; isDefault: boolean }>): string | null {
  const preferred = releases.find((release) => release.isDefault);
  if (preferred) return preferred.name;
  const newest = releases.map((release) => release.name).sort((a, b) => compareReleaseNames(b, a))[0];
  return newest ?? null;
}

/**
 * A loaded release's endpoints as an EndpointCatalog (no schema definitions: what the functions of
 * packages/coverage that take a catalog need, such as the usage report), with apisnoop's ineligible
 * endpoints as stored with it (operationId → reason). Throws NotFoundError when the release is not loaded.
 */
export async function getReleaseCatalog(
  prisma: PrismaClient,
  release: string,
): Promise<{ catalog: EndpointCatalog; ineligible: Map<string, string> }> {
  const rows = await prisma.endpoint.findMany({ where: { release } });
  if (rows.length === 0) throw new NotFoundError("release", `release ${release} is not loaded`);
  const endpoints: Endpoint[] = rows.map((row) => ({
    operationId: row.operationId,
    method: row.method,
    path: row.path,
    level: row.level as Endpoint["level"],
    category: row.category,
    group: row.group,
    version: row.version,
    kind: row.kind,
    action: row.action,
    description: row.description,
    deprecated: row.deprecated,
    watchOperation: row.watchOperation,
    requestBodyRef: null,
    responseRefs: {},
  }));
  const ineligible = new Map<string, string>();
  for (const row of rows)
    if (row.ineligibleReason !== null) ineligible.set(row.operationId, row.ineligibleReason);
  return {
    catalog: {
      release,
      endpoints: endpoints.filter((endpoint) => !endpoint.watchOperation),
      watchOperations: endpoints.filter((endpoint) => endpoint.watchOperation),
      byOperationId: new Map(endpoints.map((endpoint) => [endpoint.operationId, endpoint])),
      definitions: {},
    },
    ineligible,
  };
}
