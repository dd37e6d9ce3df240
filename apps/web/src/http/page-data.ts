/**
 * Runs a page's data load; packages/db's NotFoundError (a release that is not loaded) becomes a message
 * the page shows instead of an error page. Checked by name: Next bundles its own copy of the class.
 */
export async function loadForPage<T>(
  load: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  try {
    return { ok: true, value: await load() };
  } catch (error) {
    if ((error as Error).name === "NotFoundError") return { ok: false, error: (error as Error).message };
    throw error;
  }
}
