import type { ReleaseSummary } from "../data/dashboard-data";

/**
 * A plain GET form choosing releases (`name` → selected release), carrying the view's other parameters
 * as hidden fields, so it works without JavaScript and the result is a shareable URL.
 */
export function ReleasePicker({
  action,
  releases,
  fields,
  carry,
}: {
  action: string;
  releases: readonly ReleaseSummary[];
  fields: ReadonlyArray<{ name: string; label: string; value: string }>;
  carry: URLSearchParams;
}) {
  return (
    <form className="filters" method="get" action={action} aria-label="Releases">
      {fields.map((field) => (
        <label key={field.name}>
          <span>{field.label}</span>
          <select name={field.name} defaultValue={field.value}>
            {releases.map((release) => (
              <option key={release.name} value={release.name}>
                {release.name} · {release.endpoints} endpoints
              </option>
            ))}
          </select>
        </label>
      ))}
      {[...carry].map(([name, value]) => (
        <input key={`${name}=${value}`} type="hidden" name={name} value={value} />
      ))}
      <div className="filter-actions">
        <button type="submit" className="button">
          show
        </button>
      </div>
    </form>
  );
}
