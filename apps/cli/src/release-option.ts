import { parseIneligible } from "@apisnoop/coverage";
import type { Database } from "@apisnoop/db";
import { loadRelease } from "@apisnoop/db";
import {
  buildCatalog,
  type EndpointCatalog,
  ineligibleEndpointsSource,
  normaliseRelease,
  readSource,
  releaseSources,
} from "@apisnoop/openapi";
import { CliError } from "./cli-error";
import type { CommandIO } from "./command";
import { readEnv } from "./env";
import { loadSpecOption } from "./spec-option";

/** A release's catalog and where its spec came from. */
export interface ResolvedRelease {
  catalog: EndpointCatalog;
  release: string;
  origin: string;
}

/**
 * The catalog for `--release 1.NN` (through the reference folder or the public URLs) or `--spec FILE|URL`
 * (labelled by --release, or the release in its name). One of them is required: the spec decides what
 * every request is matched against, so it is never guessed.
 */
export async function resolveRelease(
  values: { release?: string; spec?: string; kubeconfig?: string; context?: string },
  io: CommandIO,
): Promise<ResolvedRelease> {
  const release = values.release ? normaliseRelease(values.release) : undefined;
  if (!values.spec && !release) {
    throw new CliError("say which release the data is from: --release 1.NN, or --spec FILE|URL|live", 2);
  }
  const spec = values.spec ?? releaseSources(release as string, readEnv().APISNOOP_REFERENCE_DIR).spec;
  const loaded = await loadSpecOption({ ...values, spec }, io);
  const name = release ?? loaded.release;
  if (!name) throw new CliError(`cannot tell the release of ${loaded.origin}: add --release 1.NN`, 2);
  return { catalog: buildCatalog(loaded.spec, name), release: name, origin: loaded.origin };
}

/** Stores a release's endpoints with apisnoop's ineligible list (reference folder or public URL). */
export async function storeRelease(
  db: Database,
  resolved: ResolvedRelease,
  options: { isDefault?: boolean } = {},
) {
  const source = ineligibleEndpointsSource(readEnv().APISNOOP_REFERENCE_DIR);
  const ineligible = parseIneligible(JSON.parse((await readSource(source)).toString("utf8")));
  return loadRelease(db.prisma, resolved.catalog, {
    origin: resolved.origin,
    release: resolved.release,
    ineligible: [...ineligible.values()],
    ...(options.isDefault !== undefined ? { isDefault: options.isDefault } : {}),
  });
}
