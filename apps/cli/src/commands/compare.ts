import { diffReleases, type ReleaseDiff } from "@apisnoop/coverage";
import { buildCatalog, type Endpoint, loadSpec, normaliseRelease, releaseSources } from "@apisnoop/openapi";
import { CliError } from "../cli-error";
import type { Command } from "../command";
import { DATABASE_OPTIONS, DATABASE_OPTIONS_HELP } from "../database-option";
import { readEnv } from "../env";
import { parseOptions } from "../parse-options";
import { SOURCE_FILTERS_HELP } from "../selection-option";
import {
  compareCoverage,
  formatCoverageDiffMarkdown,
  formatCoverageDiffText,
  parseCompareSides,
  selectionOf,
} from "./compare-coverage";

/** A release ("1.34") resolved through the reference folder or public URLs, or a spec file/URL as given. */
async function loadRelease(value: string) {
  let release: string | null = null;
  let source = value;
  try {
    release = normaliseRelease(value);
    source = releaseSources(release, readEnv().APISNOOP_REFERENCE_DIR).spec;
  } catch {
    // not a release number: a spec file or URL
  }
  const loaded = await loadSpec(source);
  return buildCatalog(loaded.spec, release ?? loaded.release ?? value);
}

const line = (e: Endpoint) =>
  `  ${e.operationId.padEnd(64)} ${e.level.padEnd(6)} ${e.method.padEnd(6)} ${e.path}`;

/** The diff as text: counts first, then each list. */
export function formatDiffText(diff: ReleaseDiff): string {
  const out = [
    `${diff.from} → ${diff.to}: ${diff.added.length} added, ${diff.removed.length} removed, ${diff.promoted.length} promoted, ${diff.newlyDeprecated.length} newly deprecated`,
  ];
  const section = (title: string, rows: string[]) => {
    if (rows.length > 0) out.push("", `${title} (${rows.length}):`, ...rows);
  };
  section("Added", diff.added.map(line));
  section("Removed", diff.removed.map(line));
  section(
    "Promoted",
    diff.promoted.map(
      (p) => `  ${p.from.operationId} (${p.from.level}) → ${p.to.operationId} (${p.to.level})`,
    ),
  );
  section("Newly deprecated", diff.newlyDeprecated.map(line));
  return `${out.join("\n")}\n`;
}

/** The diff as a JSON object: operationIds only, so it stays small and diffable. */
export function diffJson(diff: ReleaseDiff) {
  const ids = (endpoints: Endpoint[]) => endpoints.map((e) => e.operationId);
  return {
    from: diff.from,
    to: diff.to,
    added: ids(diff.added),
    removed: ids(diff.removed),
    promoted: diff.promoted.map((p) => ({
      from: p.from.operationId,
      to: p.to.operationId,
      fromLevel: p.from.level,
      toLevel: p.to.level,
    })),
    newlyDeprecated: ids(diff.newlyDeprecated),
  };
}

/** The diff as JSON text. */
export function formatDiffJson(diff: ReleaseDiff): string {
  return `${JSON.stringify(diffJson(diff), null, 2)}\n`;
}

export const compareCommand: Command = {
  name: "compare",
  help: `Usage: apisnoop compare --from 1.NN|SPEC --to 1.NN|SPEC [--coverage] [--source FIELD=VALUE …]
                        [--outcome any|2xx] [--format text|json]
       apisnoop compare --from START..END --to START..END [--release 1.NN] [--source FIELD=VALUE …]
       apisnoop compare --from run=A --to run=B [--release 1.NN] [--source FIELD=VALUE …]
                        [--format text|json|markdown]

Compares the endpoint sets of two releases (watch operations excluded, as apisnoop counts): endpoints
added and removed, promoted (the same operation of a kind at a higher level, e.g. v1beta1 → v1), and
newly deprecated. A release number is read from $APISNOOP_REFERENCE_DIR/openapi/v1.NN.swagger.json.gz
when that folder is set, else downloaded once from kubernetes/kubernetes and cached; a spec file or URL
may be given instead.

With --coverage, --source or --outcome it also compares the coverage of that selection (every source
without --source) between the two releases, from the database: both releases must be stored ('apisnoop
spec add', 'apisnoop import'). With two time windows instead of releases it compares the selection's
coverage of one release between the windows: endpoints newly tested, no longer tested, and the counts.
With two selections FIELD=VALUE (two CI runs: run=A, run=B; or two clusters) it compares their coverage
of one release the same way, each changed endpoint with its level, whether it is conformance-eligible and
the tests or sources that hit it (on the side where it was hit); --format markdown fits a PR comment.
To fail a CI job when a run covers fewer conformance-eligible endpoints, see 'apisnoop report --baseline'.

Options:
  --from 1.NN|SPEC       the earlier release, or START..END: the earlier time window
  --to 1.NN|SPEC         the later release, or START..END: the later time window; START and END are
                         ISO 8601, epoch ms, now, or a duration before now (15m, 24h, 7d); either may be
                         left out (7d.. is the last 7 days, ..7d everything before); or FIELD=VALUE
                         (run=B), a source filter: the later selection
  --coverage             compare the coverage of the selection too (implied by --source and --outcome)
${SOURCE_FILTERS_HELP}
  --outcome any|2xx      count hits with any response (default) or only successful ones
  --release 1.NN         the release of a time-window or selection comparison (default: the database's
                         default)
  --format text|json|markdown  output format (default: text; markdown: for coverage comparisons)
${DATABASE_OPTIONS_HELP}

Examples:
  APISNOOP_REFERENCE_DIR=../shared/k8s apisnoop compare --from 1.33 --to 1.34
  apisnoop compare --from 1.33 --to 1.34 --source chart=ingress-nginx
  apisnoop compare --from 14d..7d --to 7d..now --source namespace=ops --release 1.34
  apisnoop compare --from run=main-1234 --to run=pr-42 --format markdown`,
  async run(args, io) {
    const { values } = parseOptions("compare", args, {
      from: { type: "string" },
      to: { type: "string" },
      coverage: { type: "boolean", default: false },
      source: { type: "string", multiple: true },
      outcome: { type: "string" },
      release: { type: "string" },
      format: { type: "string", default: "text" },
      ...DATABASE_OPTIONS,
    });
    if (!values.from || !values.to)
      throw new CliError("--from and --to are required (see 'apisnoop compare --help')", 2);
    if (!["text", "json", "markdown"].includes(values.format)) {
      throw new CliError(`--format must be text, json or markdown, not '${values.format}'`, 2);
    }
    const sides = parseCompareSides(values.from, values.to);
    const selection = selectionOf(values);
    if (sides.kind !== "releases") {
      const coverage = await compareCoverage(sides, selection, values, io);
      io.stdout.write(
        values.format === "json"
          ? `${JSON.stringify({ release: coverage.release, coverage: coverage.json }, null, 2)}\n`
          : values.format === "markdown"
            ? formatCoverageDiffMarkdown(coverage)
            : formatCoverageDiffText(coverage),
      );
      return 0;
    }
    if (values.format === "markdown") {
      throw new CliError("--format markdown is for coverage comparisons: time windows or runs", 2);
    }
    if (values.release !== undefined) {
      throw new CliError("--release is for time windows: --from and --to name the releases here", 2);
    }
    const [from, to] = await Promise.all([loadRelease(values.from), loadRelease(values.to)]);
    const diff = diffReleases(from, to);
    const withCoverage = values.coverage || values.source !== undefined || values.outcome !== undefined;
    const coverage = withCoverage
      ? await compareCoverage(
          { kind: "releases", from: from.release ?? values.from, to: to.release ?? values.to },
          selection,
          values,
          io,
        )
      : null;
    if (values.format === "json") {
      const json = coverage ? { ...diffJson(diff), coverage: coverage.json } : diffJson(diff);
      io.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    } else {
      io.stdout.write(formatDiffText(diff) + (coverage ? `\n${formatCoverageDiffText(coverage)}` : ""));
    }
    return 0;
  },
};
