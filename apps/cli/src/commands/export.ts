import { writeFile } from "node:fs/promises";
import { parseIneligible, toApisnoopFormat } from "@apisnoop/coverage";
import { getCoverage, getUsage } from "@apisnoop/db";
import { ineligibleEndpointsSource, readSource } from "@apisnoop/openapi";
import { CliError } from "../cli-error";
import type { Command } from "../command";
import { DATABASE_OPTIONS, DATABASE_OPTIONS_HELP, withDatabase } from "../database-option";
import { readEnv } from "../env";
import { parseOptions } from "../parse-options";
import { resolveRelease } from "../release-option";
import { SELECTION_OPTIONS, SELECTION_OPTIONS_HELP, selectionFilters } from "../selection-option";

const xml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export const exportCommand: Command = {
  name: "export",
  help: `Usage: apisnoop export --format apisnoop|junit [--source FIELD=VALUE …] [--release 1.NN] [--output FILE]

Exports the coverage of a selection:
  apisnoop  apisnoop's published JSON format (resources/coverage/1.NN.0.json): every endpoint of the release
            with tested, conf_tested and the e2e tests that hit it, plus the totals — readable by apisnoop's
            own tools and by 'apisnoop import apisnoop --file'
  junit     one test case per endpoint of the release, skipped when the selection did not hit it
(CSV and an SVG badge are served by the dashboard: /api/v1/coverage.csv and /api/v1/badge.svg.)

Options:
  --format F             apisnoop or junit (required)
  --output FILE          write there instead of stdout
${SELECTION_OPTIONS_HELP}
${DATABASE_OPTIONS_HELP}

Example:
  apisnoop export --format apisnoop --source e2eTest="[sig-apps] …" --release 1.34 > coverage.json`,
  async run(args, io) {
    const { values } = parseOptions("export", args, {
      ...SELECTION_OPTIONS,
      format: { type: "string" },
      output: { type: "string" },
      ...DATABASE_OPTIONS,
    });
    if (values.format !== "apisnoop" && values.format !== "junit") {
      throw new CliError(
        `--format must be apisnoop or junit${values.format ? `, not '${values.format}'` : ""}`,
        2,
      );
    }
    const filters = selectionFilters(values);
    let text: string;
    if (values.format === "apisnoop") {
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
      const cases = coverage.endpoints.map(
        (e) =>
          `    <testcase classname="apisnoop.${e.level}.${xml(e.category)}" name="${xml(e.operationId)}">${e.tested ? "" : "<skipped/>"}</testcase>`,
      );
      const skipped = coverage.endpoints.filter((e) => !e.tested).length;
      text = `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="apisnoop coverage ${xml(coverage.release)}" tests="${cases.length}" skipped="${skipped}" failures="0">\n${cases.join("\n")}\n  </testsuite>\n</testsuites>\n`;
    }
    if (values.output) await writeFile(values.output, text);
    else io.stdout.write(text);
    return 0;
  },
};
