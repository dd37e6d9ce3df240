import { NotFoundError } from "@apisnoop/db/errors";

/**
 * Runs a page's data load; packages/db's NotFoundError (a release that is not loaded) becomes a message
 * the page shows instead of an error page.
 */
export async function loadForPage<T>(
  load: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  try {
    return { ok: true, value: await load() };
  } catch (error) {
    if (error instanceof NotFoundError) return { ok: false, error: error.message };
    throw error;
  }
}
