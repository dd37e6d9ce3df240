import { writeFile } from "node:fs/promises";
import {
  type ApisnoopCoverage,
  BADGE_METRICS,
  type BadgeMetric,
  badgeFigures,
  COVERAGE_CSV_COLUMNS,
  coverageBadge,
  coverageCsv,
  coverageJunit,
  endpointCoverageRows,
  parseApisnoopCoverage,
  parseIneligible,
  toApisnoopFormat,
} from "@apisnoop/coverage";
import { getCoverage, getUsage } from "@apisnoop/db";
import { ineligibleEndpointsSource, isReleaseName, readSource, releaseSources } from "@apisnoop/openapi";
import { CliError } from "../cli-error";
import type { Command, CommandIO } from "../command";
import { DATABASE_OPTIONS, DATABASE_OPTIONS_HELP, withDatabase } from "../database-option";
import { readEnv } from "../env";
import { parseOptions } from "../parse-options";
import { resolveRelease } from "../release-option";
import { SELECTION_OPTIONS, SELECTION_OPTIONS_HELP, selectionFilters } from "../selection-option";

const FORMATS = ["apisnoop", "junit", "csv", "badge"] as const;
type Format = (typeof FORMATS)[number];
const DEFAULT_LABEL = "k8s API coverage";

export const exportCommand: Command = {
  name: "export",
  help: `Usage: apisnoop export --format apisnoop|junit|csv|badge [--metric all|stable|eligible] [--label TEXT]
                       [--source FIELD=VALUE …] [--release 1.NN] [--output FILE]

Exports the coverage of a selection:
  apisnoop  apisnoop's published JSON format (resources/coverage/1.NN.0.json): every endpoint of the release
            with tested, conf_tested and the e2e tests that hit it, plus the totals — readable by apisnoop's
            own tools and by 'apisnoop import apisnoop --file'
  junit     one test case per endpoint of the release, skipped when the selection did not hit it
  csv       one row per endpoint, the columns of the dashboard's /api/v1/coverage.csv:
            ${COVERAGE_CSV_COLUMNS.slice(0, 8).join(",")},
            ${COVERAGE_CSV_COLUMNS.slice(8).join(",")}
            upstreamTested comes from apisnoop's published coverage of the release, read as the dashboard
            reads it ($APISNOOP_REFERENCE_DIR/apisnoop/1.NN.0.json.gz, else GitHub); it is empty when that
            cannot be read (a cluster's own release, no network) — the dashboard leaves it empty then too.
            (The dashboard reads it only for the releases it loads itself; the CLI for any 1.NN.)
  badge     the SVG badge of the dashboard's /api/v1/badge.svg, byte for byte: label | share (hit/total)

Options:
  --format F             apisnoop, junit, csv or badge (required)
  --metric M             badge only: all endpoints (default), stable ones, or conformance-eligible ones
  --label TEXT           badge only: the left-hand text (default "${DEFAULT_LABEL}", at most 64 characters)
  --output FILE          write there instead of stdout
${SELECTION_OPTIONS_HELP}
${DATABASE_OPTIONS_HELP}

Examples:
  apisnoop export --format apisnoop --source e2eTest="[sig-apps] …" --release 1.34 > coverage.json
  apisnoop export --format badge --metric stable --source chart=my-operator --output coverage.svg`,
  async run(args, io) {
    const { values } = parseOptions("export", args, {
      ...SELECTION_OPTIONS,
      format: { type: "string" },
      metric: { type: "string" },
      label: { type: "string" },
      output: { type: "string" },
      ...DATABASE_OPTIONS,
    });
    const format = values.format as Format;
    if (!FORMATS.includes(format)) {
      throw new CliError(
        `--format must be one of ${FORMATS.join(", ")}${values.format ? `, not '${values.format}'` : ""}`,
        2,
      );
    }
    if ((values.metric !== undefined || values.label !== undefined) && format !== "badge") {
      throw new CliError("--metric and --label go with --format badge", 2);
    }
    const metric = (values.metric ?? "all") as BadgeMetric;
    if (!BADGE_METRICS.includes(metric)) {
      throw new CliError(`--metric must be one of ${BADGE_METRICS.join(", ")}, not '${metric}'`, 2);
    }
    const filters = selectionFilters(values);
    let text: string;
    if (format === "apisnoop") {
      const usage = await withDatabase(values, io, (db) =>
        getUsage(db.prisma, filters, Number.POSITIVE_INFINITY),
      );
      const release = await resolveRelease({ release: usage.release }, io);
      const ineligible = parseIneligible(
        JSON.parse(
          (await readSource(ineligibleEndpointsSource(readEnv().APISNOOP_REFERENCE_DIR))).toString("utf8"),
        ),
      );
      const source = values.source?.join(" ") || undefined;
      text = `${JSON.stringify(toApisnoopFormat(release.catalog, usage.operations, ineligible, source ? { source } : {}), null, 2)}\n`;
    } else {
      const coverage = await withDatabase(values, io, (db) => getCoverage(db.prisma, filters));
      // Only the CSV shows the upstream mark; the other formats need not read apisnoop's file.
      const upstream = format === "csv" ? await readUpstream(coverage.release, io) : null;
      const endpoints = endpointCoverageRows(coverage.endpoints, { outcome: filters.outcome, upstream });
      if (format === "csv") text = coverageCsv(endpoints);
      else if (format === "junit") text = coverageJunit(coverage.release, endpoints);
      else {
        const { hit, total } = badgeFigures(endpoints, metric);
        // The same label rule and bytes as /api/v1/badge.svg (no trailing newline).
        text = coverageBadge((values.label ?? DEFAULT_LABEL).slice(0, 64), hit, total);
      }
    }
    if (values.output) await writeFile(values.output, text);
    else io.stdout.write(text);
    return 0;
  },
};

/**
 * apisnoop's published coverage of a release, from where the dashboard reads it, or null (with a note on
 * stderr) when there is none: upstreamTested is then empty, as on the dashboard.
 */
async function readUpstream(release: string, io: CommandIO): Promise<ApisnoopCoverage | null> {
  // Only published releases have it; a cluster's own release name does not.
  if (!isReleaseName(release)) return null;
  const location = releaseSources(release, readEnv().APISNOOP_REFERENCE_DIR).apisnoopCoverage;
  try {
    return parseApisnoopCoverage(
      JSON.parse((await readSource(location, { label: "coverage file" })).toString("utf8")),
    );
  } catch (error) {
    io.stderr.write(
      `upstreamTested left empty: apisnoop's coverage of ${release} not read (${(error as Error).message})\n`,
    );
    return null;
  }
}
