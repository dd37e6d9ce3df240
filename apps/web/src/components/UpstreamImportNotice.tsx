"use client";

import { useRouter } from "next/navigation";
import { useEffect } from "react";
import type { UpstreamImportState } from "../data/dashboard-data";

/** How often a page re-reads its data while the import runs. */
const REFRESH_MS = 2000;

/**
 * While `npm start` imports apisnoop's published upstream e2e coverage in the background: what it is
 * doing, release by release, and the page re-read every two seconds so its figures follow; afterwards
 * nothing, unless an import failed.
 */
export function UpstreamImportNotice({ states }: { states: readonly UpstreamImportState[] }) {
  const router = useRouter();
  const busy = states.some((state) => state.state === "waiting" || state.state === "importing");
  useEffect(() => {
    if (!busy) return;
    const timer = setInterval(() => router.refresh(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [busy, router]);
  const failed = states.filter((state) => state.state === "failed");
  if (!busy && failed.length === 0) return null;
  const done = states.filter((state) => state.state === "imported" || state.state === "already imported");
  return (
    <section
      className={`notice${busy ? "" : " notice-error"}`}
      role="status"
      data-testid="upstream-import"
      data-busy={busy}
    >
      {busy ? (
        <>
          <h2>Importing apisnoop&apos;s published upstream e2e coverage</h2>
          <p>
            Once, on the first start, so upstream e2e is a source like your own traffic: {done.length} of{" "}
            {states.length} releases done. The figures fill in as each release lands.
          </p>
        </>
      ) : (
        <h2>Upstream e2e coverage could not be imported</h2>
      )}
      <ul className="import-states">
        {states.map((state) => (
          <li key={state.release} data-state={state.state}>
            {state.release}: {describe(state)}
          </li>
        ))}
      </ul>
    </section>
  );
}

function describe(state: UpstreamImportState): string {
  const what = `${state.endpoints} endpoints, ${state.tests.toLocaleString("en")} tests`;
  switch (state.state) {
    case "waiting":
      return `waiting (${what})`;
    case "importing":
      return `importing ${what}…`;
    case "imported":
      return `imported in ${state.seconds?.toFixed(1)} s (${what})`;
    case "already imported":
      return `imported before (${what})`;
    case "failed":
      return `failed: ${state.error} — run npx apisnoop import apisnoop --release ${state.release}`;
  }
}
