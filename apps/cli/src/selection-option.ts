import { type CoverageFilters, parseCoverageFilters, SOURCE_FILTERS } from "@apisnoop/db";
import { CliError } from "./cli-error";

/** Options naming a selection of hits: the dashboard's URL filters, as flags. */
export const SELECTION_OPTIONS = {
  source: { type: "string", multiple: true },
  release: { type: "string" },
  from: { type: "string" },
  to: { type: "string" },
  outcome: { type: "string" },
} as const;

/** Help of the --source option, for commands that take it without the rest of the selection. */
export const SOURCE_FILTERS_HELP = `  --source FIELD=VALUE   only these sources; FIELD is one of ${SOURCE_FILTERS.join(", ")}
                         (repeat for several; chart=NAME matches every version of the chart)`;

export const SELECTION_OPTIONS_HELP = `${SOURCE_FILTERS_HELP}
  --release 1.NN         the release (default: the database's default release)
  --from T, --to T       time window: ISO 8601, epoch ms, now, or a duration before now (15m, 24h, 7d)
  --outcome any|2xx      count hits with any response (default) or only successful ones`;

/**
 * The coverage filters of the selection flags, parsed by the dashboard's own parser so a report and a
 * dashboard link select the same hits. Bad values: a one-line error with `usageExit`.
 */
export function selectionFilters(
  values: {
    source?: string[];
    release?: string;
    from?: string;
    to?: string;
    outcome?: string;
    level?: string;
  },
  usageExit = 2,
): CoverageFilters {
  const params = new URLSearchParams();
  for (const pair of values.source ?? []) {
    const eq = pair.indexOf("=");
    const field = pair.slice(0, eq);
    if (eq === -1 || !(SOURCE_FILTERS as readonly string[]).includes(field)) {
      throw new CliError(
        `--source takes FIELD=VALUE with FIELD one of ${SOURCE_FILTERS.join(", ")}, not '${pair}'`,
        usageExit,
      );
    }
    params.append(field, pair.slice(eq + 1));
  }
  for (const name of ["release", "from", "to", "outcome", "level"] as const) {
    const value = values[name];
    if (value !== undefined) params.set(name, value);
  }
  const parsed = parseCoverageFilters(params);
  if (!parsed.ok) throw new CliError(parsed.error, usageExit);
  return parsed.filters;
}
