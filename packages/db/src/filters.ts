import { LEVELS, type Level } from "@apisnoop/openapi/level";
import { RELEASE_NAME } from "@apisnoop/openapi/release-name";
import { z } from "zod";

/**
 * The filters every coverage view shares: release, source, time window, outcome, level. They
 * live in the URL, so this module parses them from query parameters and writes them back; it imports no
 * database code, so pages and client components can use it too (`@apisnoop/db/filters`).
 */

export { LEVELS, type Level };

/** "any": a hit with any response covers an endpoint; "2xx": only successful ones do. */
export const OUTCOMES = ["any", "2xx"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Source fields a view can be narrowed to, as query parameters. */
export const SOURCE_FILTERS = [
  "chart",
  "namespace",
  "pod",
  "serviceAccount",
  "userAgent",
  "e2eTest",
  "name",
  "upstream",
  "cluster",
  "run",
] as const;

/**
 * The `upstream` filter: `only` selects apisnoop's imported upstream e2e coverage (the source
 * `upstream-e2e`) alone, `none` every source but it — your own traffic. Absent: both.
 */
export const UPSTREAM_CHOICES = ["only", "none"] as const;
export type UpstreamChoice = (typeof UPSTREAM_CHOICES)[number];
export type SourceFilterName = (typeof SOURCE_FILTERS)[number];

/**
 * Source filters. All given ones must hold. Each is an exact match except: `chart` also matches any version
 * of the chart (`nginx` matches `nginx-1.2.3`, not `nginx-ingress-4.0.0`), `userAgent` is a prefix
 * (`kubectl` matches `kubectl/v1.34.0 (linux/amd64) ...`), and `upstream` is `only` or `none` (see
 * UPSTREAM_CHOICES): `SOURCE_FILTER_MATCH` decides it.
 */
export type SourceFilters = Partial<Record<SourceFilterName, string>>;

export {
  chartMatches,
  chartName,
  SOURCE_FILTER_MATCH,
  type SourceMatchKind,
  sourceMatches,
} from "./source-match";

/** The filters of a coverage view, parsed. */
export interface CoverageFilters extends SourceFilters {
  /** Release name ("1.34"); absent: the default release. */
  release?: string;
  /** Start of the time window (inclusive, by minute); absent: since the beginning. */
  from?: Date;
  /** End of the time window (exclusive); absent: until now. */
  to?: Date;
  outcome: Outcome;
  /** Only endpoints of this level. */
  level?: Level;
}

/** Query parameters the filters use; others in a URL are left alone. */
export const FILTER_PARAMS = ["release", ...SOURCE_FILTERS, "from", "to", "outcome", "level"] as const;

const RELATIVE = /^(\d{1,6})([mhd])$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A time parameter: an ISO 8601 date or date-time ("2026-11-28", "2026-11-28T12:00:00Z"), epoch
 * milliseconds, "now", or a duration before now ("15m", "24h", "7d").
 */
function timeParam(now: () => Date) {
  return z.string().transform((value, context) => {
    const trimmed = value.trim();
    if (trimmed === "now") return now();
    const relative = RELATIVE.exec(trimmed);
    if (relative) {
      const unit = relative[2] as keyof typeof UNIT_MS;
      return new Date(now().getTime() - Number(relative[1]) * UNIT_MS[unit]);
    }
    const time = /^\d{1,15}$/.test(trimmed)
      ? Number(trimmed)
      : ISO_DATE.test(trimmed)
        ? Date.parse(trimmed)
        : NaN;
    if (Number.isNaN(time) || time < 0 || time > 253_402_300_799_000) {
      context.addIssue({
        code: "custom",
        message: `"${value}" is not a time: use an ISO 8601 date-time, epoch milliseconds, "now" or a duration like 15m, 24h, 7d`,
      });
      return z.NEVER;
    }
    return new Date(time);
  });
}

const text = (max: number) => z.string().trim().min(1).max(max);

/** The filters' schema per clock; built once, as building it costs more than parsing with it. */
const schemas = new WeakMap<() => Date, ReturnType<typeof buildFiltersSchema>>();
const systemNow = () => new Date();

function filtersSchema(now: () => Date) {
  let schema = schemas.get(now);
  if (!schema) {
    schema = buildFiltersSchema(now);
    schemas.set(now, schema);
  }
  return schema;
}

function buildFiltersSchema(now: () => Date) {
  return z
    .object({
      release: z.string().trim().regex(RELEASE_NAME, 'a release is a name like "1.34"').optional(),
      chart: text(253).optional(),
      namespace: text(253).optional(),
      pod: text(253).optional(),
      serviceAccount: text(253).optional(),
      userAgent: text(512).optional(),
      e2eTest: text(1024).optional(),
      name: text(253).optional(),
      upstream: z
        .enum(UPSTREAM_CHOICES, { error: `upstream is one of ${UPSTREAM_CHOICES.join(", ")}` })
        .optional(),
      cluster: text(253).optional(),
      run: text(253).optional(),
      from: timeParam(now).optional(),
      to: timeParam(now).optional(),
      outcome: z.enum(OUTCOMES, { error: `outcome is one of ${OUTCOMES.join(", ")}` }).default("any"),
      level: z.enum(LEVELS, { error: `level is one of ${LEVELS.join(", ")}` }).optional(),
    })
    .refine((filters) => !filters.from || !filters.to || filters.from < filters.to, {
      message: "from must be before to",
      path: ["from"],
    });
}

/** Query parameters as URLSearchParams or as a Next.js `searchParams` record. */
export type FilterInput = URLSearchParams | Record<string, string | string[] | undefined>;

/**
 * Parses the filters from query parameters. Empty values count as absent (a form's blank field); a filter
 * given twice, or a bad value, is an error whose one-line message names the parameter. Never throws.
 */
export function parseCoverageFilters(
  input: FilterInput,
  options: { now?: () => Date } = {},
): { ok: true; filters: CoverageFilters } | { ok: false; error: string } {
  const raw: Record<string, string> = {};
  for (const name of FILTER_PARAMS) {
    const values = (
      input instanceof URLSearchParams
        ? input.getAll(name)
        : ([input[name] ?? []] as (string | string[])[]).flat()
    ).filter((value) => value.trim() !== "");
    if (values.length > 1)
      return { ok: false, error: `invalid filter ${name}: given ${values.length} times` };
    if (values[0] !== undefined) raw[name] = values[0];
  }
  const parsed = filtersSchema(options.now ?? systemNow).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, error: `invalid filter ${issue?.path.join(".") || "(filters)"}: ${issue?.message}` };
  }
  const filters: CoverageFilters = { outcome: parsed.data.outcome };
  for (const [name, value] of Object.entries(parsed.data)) {
    if (value !== undefined) (filters as unknown as Record<string, unknown>)[name] = value;
  }
  return { ok: true, filters };
}

/** The query parameters of `filters` (defaults left out), for links that reproduce a view. */
export function coverageFiltersToSearchParams(filters: Partial<CoverageFilters>): URLSearchParams {
  const params = new URLSearchParams();
  for (const name of FILTER_PARAMS) {
    const value = filters[name];
    if (value === undefined || (name === "outcome" && value === "any")) continue;
    params.set(name, value instanceof Date ? value.toISOString() : value);
  }
  return params;
}

/** The source filters among `filters`. */
export function sourceFiltersOf(filters: SourceFilters): SourceFilters {
  const picked: SourceFilters = {};
  for (const name of SOURCE_FILTERS) {
    const value = filters[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}
