import {
  buildUsageReport,
  formatReportJunit,
  formatReportMarkdown,
  formatReportText,
  parseIneligible,
  reportExitCode,
} from "@apisnoop/coverage";
import { getUsage } from "@apisnoop/db";
import { ineligibleEndpointsSource, readSource } from "@apisnoop/openapi";
import { CliError } from "../cli-error";
import type { Command } from "../command";
import { DATABASE_OPTIONS, DATABASE_OPTIONS_HELP, withDatabase } from "../database-option";
import { readEnv } from "../env";
import { parseOptions } from "../parse-options";
import { resolveRelease } from "../release-option";
import { SELECTION_OPTIONS, SELECTION_OPTIONS_HELP, selectionFilters } from "../selection-option";

/** Usage errors exit 1 here: 2, 3 and 4 are findings a CI acts on. */
const USAGE_EXIT = 1;
const FORMATS = { text: formatReportText, markdown: formatReportMarkdown, junit: formatReportJunit } as const;

export const reportCommand: Command = {
  name: "report",
  help: `Usage: apisnoop report [--source FIELD=VALUE …] [--release 1.NN] [--target-release 1.NN]
                       [--min-coverage PERCENT] [--format text|json|markdown|junit]

What the selected sources really called: endpoints that are deprecated in the release (the /watch/ paths,
or an alpha/beta version while a higher level of the same operation is served), endpoints that the target
release no longer serves (with the replacement when it has one), each with hit counts and callers, and
the conformance-eligible coverage of the selection.

Exit codes, for CI gates (as pluto's):
  0  clean
  2  deprecated endpoints used
  3  endpoints removed in --target-release used (takes precedence over 2)
  4  conformance-eligible coverage below --min-coverage (when nothing else is flagged)
  1  bad arguments or another error

Options:
${SELECTION_OPTIONS_HELP}
  --target-release 1.NN  the release to check for removed endpoints (its spec as with 'apisnoop compare')
  --min-coverage P       minimum conformance-eligible coverage in percent
  --format F             text (default), json, markdown or junit
${DATABASE_OPTIONS_HELP}

Example:
  apisnoop report --source chart=ingress-nginx --target-release 1.36 --format markdown`,
  async run(args, io) {
    const { values } = parseOptions("report", args, {
      ...SELECTION_OPTIONS,
      "target-release": { type: "string" },
      "min-coverage": { type: "string" },
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
    const usage = await withDatabase(values, io, (db) => getUsage(db.prisma, filters));
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
    });
    io.stdout.write(
      format === "json"
        ? `${JSON.stringify(report, null, 2)}\n`
        : FORMATS[format as keyof typeof FORMATS](report),
    );
    return reportExitCode(report);
  },
};
