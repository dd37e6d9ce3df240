import { formatPrioritiesCsv, formatPrioritiesMarkdown, formatPrioritiesText } from "@apisnoop/coverage";
import { DEFAULT_PRIORITIES_LIMIT, getPriorities, LEVELS } from "@apisnoop/db";
import { CliError } from "../cli-error";
import type { Command } from "../command";
import { DATABASE_OPTIONS, DATABASE_OPTIONS_HELP, withDatabase } from "../database-option";
import { parseOptions } from "../parse-options";
import { SELECTION_OPTIONS, SELECTION_OPTIONS_HELP, selectionFilters } from "../selection-option";

const FORMATS = {
  text: formatPrioritiesText,
  markdown: formatPrioritiesMarkdown,
  csv: formatPrioritiesCsv,
  json: (report: unknown) => `${JSON.stringify(report, null, 2)}\n`,
} as const;

export const prioritiesCommand: Command = {
  name: "priorities",
  help: `Usage: apisnoop priorities [--source FIELD=VALUE …] [--release 1.NN] [--level L] [--limit N]
                           [--format text|json|markdown|csv]

What real workloads use that the conformance suite does not test yet, from the database: the endpoints
that workloads (every source that is no e2e test) call and no recorded conformance test hits, the body
fields they send or read that no conformance test's bodies carried on that endpoint, and the alpha and
beta endpoints they depend on (tests a promotion to stable will need). Each list is ranked by distinct
workloads — a Helm chart when known, else namespace and service account, else the user agent — then by
hits. Conformance coverage is every conformance test recorded for the release, whatever the window:
runs through the proxy (endpoints and fields) and apisnoop's published data ('apisnoop import
apisnoop': endpoints only, it has no fields). The same lists as the dashboard's /priorities and
/api/v1/priorities.

Options:
${SELECTION_OPTIONS_HELP}
  --level L              only endpoints of this level: ${LEVELS.join(", ")}
  --limit N              at most N rows per list (default ${DEFAULT_PRIORITIES_LIMIT}); the totals count them all
  --format F             text (default), json (the API's shape), markdown (for an issue) or csv
${DATABASE_OPTIONS_HELP}

Examples:
  apisnoop priorities --release 1.34 --format markdown > next-tests.md
  apisnoop priorities --source namespace=prod --from 7d --level stable --limit 20`,
  async run(args, io) {
    const { values } = parseOptions("priorities", args, {
      ...SELECTION_OPTIONS,
      level: { type: "string" },
      limit: { type: "string" },
      format: { type: "string", default: "text" },
      ...DATABASE_OPTIONS,
    });
    const format = values.format as string;
    if (!Object.hasOwn(FORMATS, format)) {
      throw new CliError(`--format must be one of ${Object.keys(FORMATS).join(", ")}, not '${format}'`, 2);
    }
    const limit = values.limit === undefined ? DEFAULT_PRIORITIES_LIMIT : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) {
      throw new CliError(`--limit must be a whole number from 1 to 100000, not '${values.limit}'`, 2);
    }
    const filters = selectionFilters(values);
    const report = await withDatabase(values, io, (db) => getPriorities(db.prisma, filters, { limit }));
    io.stdout.write(FORMATS[format as keyof typeof FORMATS](report));
    return 0;
  },
};
