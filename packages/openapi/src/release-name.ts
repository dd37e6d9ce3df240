/**
 * Kubernetes release names, decided here for the whole product: which names are published releases, which
 * are versions, and their order. No imports, so client components can use it
 * (`@apisnoop/openapi/release-name`).
 */

const PUBLISHED = /^1\.\d{1,2}$/;
const VERSIONED = /^\d+(\.\d+)*$/;

/**
 * The shape of any name a release may be stored and asked for under: a published release ("1.34"), a
 * patch version, or what a cluster reports ("cluster"). Bounded, so a URL or a batch cannot name a
 * release the database would not hold. A `RegExp` for zod's `.regex`, without the `g` flag (no state).
 */
export const RELEASE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$/;

/** Whether `name` has the shape of a release's name ({@link RELEASE_NAME}); it need not be loaded. */
export function isWellFormedReleaseName(name: string): boolean {
  return RELEASE_NAME.test(name);
}

/**
 * Whether `name` is a published Kubernetes release's name, "1.NN": the only releases with a spec and
 * apisnoop coverage to download (a cluster may report anything else).
 */
export function isReleaseName(name: string): boolean {
  return PUBLISHED.test(name);
}

/** Whether `name` is a version ("1.34", "1.34.2"), which releases can be ordered by. */
export function isVersionedName(name: string): boolean {
  return VERSIONED.test(name);
}

/** Orders release names by version ("1.9" < "1.10"); names that are not versions sort after, by text. */
export function compareReleaseNames(a: string, b: string): number {
  const parse = (name: string) => (isVersionedName(name) ? name.split(".").map(Number) : null);
  const pa = parse(a);
  const pb = parse(b);
  if (pa && pb) {
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
      const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
      if (diff !== 0) return diff;
    }
    return 0;
  }
  if (pa) return -1;
  if (pb) return 1;
  return a.localeCompare(b);
}
