import {
  buildUsageReport,
  formatReportJunit,
  formatReportMarkdown,
  formatReportText,
  parseIneligible,
  reportExitCode,
} from "@apisnoop/coverage";
import { type CoverageFilters, getUsage, SOURCE_FILTERS } from "@apisnoop/db";
import { ineligibleEndpointsSource, readSource } from "@apisnoop/openapi";
import { CliError } from "../cli-error";
import type { Command } from "../command";
import { DATABASE_OPTIONS, DATABASE_OPTIONS_HELP, withDatabase } from "../database-option";
import { readEnv } from "../env";
import { parseOptions } from "../parse-options";
import { resolveRelease } from "../release-option";
import { SELECTION_OPTIONS, SELECTION_OPTIONS_HELP, selectionFilters } from "../selection-option";

/** Usage errors exit 1 here: 2, 3, 4 and 5 are findings a CI acts on. */
const USAGE_EXIT = 1;
const FORMATS = { text: formatReportText, markdown: formatReportMarkdown, junit: formatReportJunit } as const;

export const reportCommand: Command = {
  name: "report",
  help: `Usage: apisnoop report [--source FIELD=VALUE …] [--release 1.NN] [--target-release 1.NN]
                       [--min-coverage PERCENT] [--baseline FIELD=VALUE …] [--format text|json|markdown|junit]

What the selected sources really called: endpoints that are deprecated in the release (the /watch/ paths,
or an alpha/beta version while a higher level of the same operation is served), endpoints that the target
release no longer serves (with the replacement when it has one), each with hit counts and callers, and
the conformance-eligible coverage of the selection. With --baseline, the same coverage of the baseline
(the selection with FIELD=VALUE in place of its own FIELD: --source run=B --baseline run=A compares run B
with run A in the same release, window and outcome), and the eligible endpoints the baseline hit and the
selection did not, with the baseline's callers.

Exit codes, for CI gates (as pluto's):
  0  clean
  2  deprecated endpoints used
  3  endpoints removed in --target-release used (takes precedence over 2)
  5  fewer conformance-eligible endpoints covered than --baseline (when neither 2 nor 3)
  4  conformance-eligible coverage below --min-coverage (when nothing else is flagged)
  1  bad arguments or another error

Options:
${SELECTION_OPTIONS_HELP}
  --target-release 1.NN  the release to check for removed endpoints (its spec as with 'apisnoop compare')
  --min-coverage P       minimum conformance-eligible coverage in percent
  --baseline FIELD=VALUE the baseline to cover at least as many conformance-eligible endpoints as; FIELD
                         is a source filter --source also names (repeat for several)
  --format F             text (default), json, markdown or junit
${DATABASE_OPTIONS_HELP}

Examples:
  apisnoop report --source chart=ingress-nginx --target-release 1.36 --format markdown
  apisnoop report --source run=pr-42 --baseline run=main-1234 --format markdown`,
  async run(args, io) {
    const { values } = parseOptions("report", args, {
      ...SELECTION_OPTIONS,
      "target-release": { type: "string" },
      "min-coverage": { type: "string" },
      baseline: { type: "string", multiple: true },
      format: { type: "string", default: "text" },
      ...DATABASE_OPTIONS,
    });
    const format = values.format as string;
    if (format !== "json" && !(format in FORMATS)) {
      throw new CliError(`--format must be text, json, markdown or junit, not '${format}'`, USAGE_EXIT);
    }
    const minCoverage = values["min-coverage"] === undefined ? undefined : Number(values["min-coverage"]);
    if (
      minCoverage !== undefined &&
      (!Number.isFinite(minCoverage) || minCoverage < 0 || minCoverage > 100)
    ) {
      throw new CliError(
        `--min-coverage must be a percentage from 0 to 100, not '${values["min-coverage"]}'`,
        USAGE_EXIT,
      );
    }
    const filters = selectionFilters(values, USAGE_EXIT);
    const baselineFilters = values.baseline ? baselineOf(values.source ?? [], values.baseline, values) : null;
    const [usage, baselineUsage] = await withDatabase(values, io, async (db) => {
      const own = await getUsage(db.prisma, filters);
      // The baseline is read in the release the selection resolved to, whatever the default is by then.
      const other = baselineFilters
        ? await getUsage(db.prisma, { ...baselineFilters, release: own.release })
        : null;
      return [own, other] as const;
    });
    const [release, target] = await Promise.all([
      resolveRelease({ release: usage.release }, io),
      values["target-release"]
        ? resolveRelease({ release: values["target-release"] }, io)
        : Promise.resolve(null),
    ]);
    const ineligible = parseIneligible(
      JSON.parse(
        (await readSource(ineligibleEndpointsSource(readEnv().APISNOOP_REFERENCE_DIR))).toString("utf8"),
      ),
    );
    const report = buildUsageReport(usage.operations, release.catalog, ineligible, {
      ...(target ? { target: target.catalog } : {}),
      ...(minCoverage !== undefined ? { minCoverage } : {}),
      ...(baselineUsage && values.baseline
        ? { baseline: { label: values.baseline.join(" "), usage: baselineUsage.operations } }
        : {}),
    });
    io.stdout.write(
      format === "json"
        ? `${JSON.stringify(report, null, 2)}\n`
        : FORMATS[format as keyof typeof FORMATS](report),
    );
    return reportExitCode(report);
  },
};

/** The field of a `FIELD=VALUE` pair. */
const fieldOf = (pair: string) => pair.slice(0, Math.max(0, pair.indexOf("=")));

/**
 * The baseline's filters: the selection with each `--baseline FIELD=VALUE` in place of its own `FIELD`.
 * A FIELD the selection does not name is a usage error: "all runs" is no baseline for one run.
 */
function baselineOf(
  source: readonly string[],
  baseline: readonly string[],
  values: Parameters<typeof selectionFilters>[0],
): CoverageFilters {
  const fields = baseline.map((pair) => {
    const field = fieldOf(pair);
    if (!(SOURCE_FILTERS as readonly string[]).includes(field)) {
      throw new CliError(
        `--baseline takes FIELD=VALUE with FIELD one of ${SOURCE_FILTERS.join(", ")}, not '${pair}'`,
        USAGE_EXIT,
      );
    }
    if (!source.some((own) => fieldOf(own) === field)) {
      throw new CliError(
        `--baseline ${pair} replaces the selection's own ${field}: name it with --source ${field}=…`,
        USAGE_EXIT,
      );
    }
    return field;
  });
  const kept = source.filter((own) => !fields.includes(fieldOf(own)));
  return selectionFilters({ ...values, source: [...kept, ...baseline] }, USAGE_EXIT);
}
