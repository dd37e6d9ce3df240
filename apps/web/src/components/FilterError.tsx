import Link from "next/link";

/** Shown instead of a view when its URL has a bad filter: the reason, and a way back. */
export function FilterError({ error, path }: { error: string; path: string }) {
  return (
    <section className="notice notice-error" role="alert">
      <h2>These filters cannot be shown</h2>
      <p>{error}</p>
      <p>
        <Link href={path}>Show {path} without filters</Link>
      </p>
    </section>
  );
}
