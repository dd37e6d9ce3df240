"use client";

import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useEffect, useState } from "react";
import type { ReleaseSummary, SourceFacets } from "../data/dashboard-data";
import { filterQuery, type SourceFilterName, WINDOW_CHOICES } from "../filters/dashboard-filters";

/** The source filters the bar offers (db also knows `name`, reachable through the URL). */
const SOURCE_FIELDS: Array<[keyof SourceFacets & SourceFilterName, string]> = [
  ["cluster", "cluster"],
  ["run", "run"],
  ["chart", "chart"],
  ["namespace", "namespace"],
  ["pod", "pod"],
  ["serviceAccount", "service account"],
  ["userAgent", "user agent"],
  ["e2eTest", "e2e test"],
];

/**
 * The filters every view shares. The bar edits the URL's own parameters (a relative `from=1h` stays
 * relative) and navigates, so the address bar always holds the whole view; "copy link" copies it.
 * `pinned` parameters belong to the view (`/compare`'s `from` and `to` name releases): the bar shows no
 * release or time-window control for them and keeps them on "clear". `carry` names parameters of the
 * view that are no filters (`/report`'s `target`): kept as they are whatever the bar changes.
 */
export function FilterBar({
  releases,
  facets,
  pinned = [],
  carry = [],
}: {
  releases: ReleaseSummary[];
  facets: SourceFacets;
  pinned?: readonly string[];
  carry?: readonly string[];
}) {
  const router = useRouter();
  const pathname = usePathname();
  const searchParams = useSearchParams();
  const current = new URLSearchParams(filterQuery(new URLSearchParams(searchParams.toString())));
  const [draft, setDraft] = useState<Record<string, string>>(() => Object.fromEntries(current));
  const [copied, setCopied] = useState(false);
  const currentQuery = current.toString();
  useEffect(() => setDraft(Object.fromEntries(new URLSearchParams(currentQuery))), [currentQuery]);

  const go = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(currentQuery);
    for (const [name, value] of Object.entries(changes)) {
      if (value) next.set(name, value);
      else next.delete(name);
    }
    const query = new URLSearchParams(filterQuery(next));
    for (const name of carry) for (const value of searchParams.getAll(name)) query.append(name, value);
    router.push(query.size > 0 ? `${pathname}?${query}` : pathname);
  };
  const value = (name: string) => current.get(name) ?? "";
  const windowValue = value("from");
  const kept = ["release", ...pinned];
  const anySet = [...current.keys()].some((name) => !kept.includes(name));

  const copyLink = async () => {
    try {
      await navigator.clipboard.writeText(globalThis.location.href);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      globalThis.prompt("Copy this link:", globalThis.location.href);
    }
  };

  return (
    <form
      className="filters"
      aria-label="Filters"
      onSubmit={(event) => {
        event.preventDefault();
        go(Object.fromEntries(SOURCE_FIELDS.map(([name]) => [name, draft[name]?.trim() || null])));
      }}
    >
      {!pinned.includes("release") && (
        <label>
          <span>release</span>
          <select
            name="release"
            value={value("release")}
            onChange={(event) => go({ release: event.target.value })}
          >
            {releases.map((release) => (
              <option key={release.name} value={release === releases[0] ? "" : release.name}>
                {release.name}
                {release.isDefault ? " (cluster)" : ""} · {release.endpoints} endpoints
              </option>
            ))}
          </select>
        </label>
      )}
      <label>
        <span>sources</span>
        <select
          name="upstream"
          value={value("upstream")}
          onChange={(event) => go({ upstream: event.target.value })}
        >
          <option value="">all sources</option>
          <option value="none">your traffic</option>
          <option value="only">upstream e2e</option>
        </select>
      </label>
      {SOURCE_FIELDS.map(([name, label]) => (
        <label key={name}>
          <span>{label}</span>
          <input
            name={name}
            list={`facet-${name}`}
            value={draft[name] ?? ""}
            placeholder="any"
            onChange={(event) => setDraft({ ...draft, [name]: event.target.value })}
            onBlur={() => {
              if ((draft[name]?.trim() ?? "") !== value(name)) go({ [name]: draft[name]?.trim() || null });
            }}
          />
          <datalist id={`facet-${name}`}>
            {facets[name].slice(0, 200).map((option) => (
              <option key={option} value={option} />
            ))}
          </datalist>
        </label>
      ))}
      {!pinned.includes("from") && (
        <label>
          <span>time window</span>
          <select
            name="from"
            value={windowValue}
            onChange={(event) => go({ from: event.target.value, to: null })}
          >
            <option value="">all time</option>
            {WINDOW_CHOICES.map((choice) => (
              <option key={choice} value={choice}>
                last {choice}
              </option>
            ))}
            {windowValue && !(WINDOW_CHOICES as readonly string[]).includes(windowValue) && (
              <option value={windowValue}>since {windowValue}</option>
            )}
          </select>
        </label>
      )}
      <label>
        <span>outcome</span>
        <select
          name="outcome"
          value={value("outcome") || "any"}
          onChange={(event) => go({ outcome: event.target.value === "any" ? null : event.target.value })}
        >
          <option value="any">any response</option>
          <option value="2xx">2xx only</option>
        </select>
      </label>
      <label>
        <span>level</span>
        <select name="level" value={value("level")} onChange={(event) => go({ level: event.target.value })}>
          <option value="">all levels</option>
          <option value="stable">stable</option>
          <option value="beta">beta</option>
          <option value="alpha">alpha</option>
        </select>
      </label>
      <div className="filter-actions">
        <button type="submit" className="button">
          apply
        </button>
        {anySet && (
          <button
            type="button"
            className="button button-quiet"
            onClick={() => {
              const keep = new URLSearchParams();
              for (const name of kept) if (value(name)) keep.set(name, value(name));
              for (const name of carry) for (const v of searchParams.getAll(name)) keep.append(name, v);
              router.push(keep.size > 0 ? `${pathname}?${keep}` : pathname);
            }}
          >
            clear
          </button>
        )}
        <button type="button" className="button" onClick={copyLink} data-testid="copy-link">
          {copied ? "copied ✓" : "copy link"}
        </button>
      </div>
    </form>
  );
}
