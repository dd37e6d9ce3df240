"use client";

import { usePathname, useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import type { DashboardFilters, ReleaseSummary, SourceFacets } from "../data/dashboard-data";
import {
  filtersToQuery,
  formatWindow,
  NO_FILTERS,
  SOURCE_FILTERS,
  type SourceFilter,
  WINDOW_CHOICES,
  windowMinutes,
} from "../filters/dashboard-filters";

const SOURCE_LABELS: Record<SourceFilter, string> = {
  chart: "chart",
  namespace: "namespace",
  pod: "pod",
  serviceAccount: "service account",
  userAgent: "user agent",
  e2eTest: "e2e test",
};

/**
 * The filters every view shares. Each change navigates to the same page with the new query, so the
 * address bar always holds the whole view; "copy link" copies it.
 */
export function FilterBar({
  filters,
  releases,
  facets,
  showRelease = true,
}: {
  filters: DashboardFilters;
  releases: ReleaseSummary[];
  facets: SourceFacets;
  showRelease?: boolean;
}) {
  const router = useRouter();
  const pathname = usePathname();
  const [draft, setDraft] = useState(filters);
  const [copied, setCopied] = useState(false);
  useEffect(() => setDraft(filters), [filters]);

  const go = (next: DashboardFilters) => {
    const query = filtersToQuery(next).toString();
    router.push(query ? `${pathname}?${query}` : pathname);
  };
  const set = <K extends keyof DashboardFilters>(name: K, value: DashboardFilters[K]) =>
    go({ ...filters, [name]: value });
  const anySet = filtersToQuery({ ...filters, release: null }).toString() !== "";

  const copyLink = async () => {
    try {
      await navigator.clipboard.writeText(window.location.href);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      window.prompt("Copy this link:", window.location.href);
    }
  };

  return (
    <form
      className="filters"
      aria-label="Filters"
      onSubmit={(event) => {
        event.preventDefault();
        go(draft);
      }}
    >
      {showRelease && (
        <label>
          <span>release</span>
          <select
            name="release"
            value={filters.release ?? ""}
            onChange={(event) => set("release", event.target.value || null)}
          >
            {releases.map((release) => (
              <option key={release.name} value={release.isDefault ? "" : release.name}>
                {release.name}
                {release.isDefault ? " (default)" : ""} · {release.endpoints} endpoints
              </option>
            ))}
          </select>
        </label>
      )}
      {SOURCE_FILTERS.map((name) => (
        <label key={name}>
          <span>{SOURCE_LABELS[name]}</span>
          <input
            name={name}
            list={`facet-${name}`}
            value={draft[name] ?? ""}
            placeholder="any"
            onChange={(event) => setDraft({ ...draft, [name]: event.target.value || null })}
            onBlur={() => {
              if ((draft[name] ?? null) !== (filters[name] ?? null)) go(draft);
            }}
          />
          <datalist id={`facet-${name}`}>
            {facets[name].slice(0, 200).map((value) => (
              <option key={value} value={value} />
            ))}
          </datalist>
        </label>
      ))}
      <label>
        <span>time window</span>
        <select
          name="window"
          value={filters.windowMinutes === null ? "" : formatWindow(filters.windowMinutes)}
          onChange={(event) => {
            const value = event.target.value;
            const choices: readonly string[] = WINDOW_CHOICES;
            const minutes = value ? windowMinutes(value) : null;
            if (value === "" || choices.includes(value)) set("windowMinutes", minutes);
          }}
        >
          <option value="">all time</option>
          {WINDOW_CHOICES.map((choice) => (
            <option key={choice} value={choice}>
              last {choice}
            </option>
          ))}
          {filters.windowMinutes !== null &&
            !(WINDOW_CHOICES as readonly string[]).includes(formatWindow(filters.windowMinutes)) && (
              <option value={formatWindow(filters.windowMinutes)}>
                last {formatWindow(filters.windowMinutes)}
              </option>
            )}
        </select>
      </label>
      <label>
        <span>outcome</span>
        <select
          name="outcome"
          value={filters.outcome}
          onChange={(event) => set("outcome", event.target.value as "any" | "2xx")}
        >
          <option value="any">any response</option>
          <option value="2xx">2xx only</option>
        </select>
      </label>
      <label>
        <span>level</span>
        <select
          name="level"
          value={filters.level ?? ""}
          onChange={(event) => set("level", (event.target.value || null) as DashboardFilters["level"])}
        >
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
            onClick={() => go({ ...NO_FILTERS, release: filters.release })}
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
