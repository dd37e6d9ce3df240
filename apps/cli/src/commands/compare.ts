import { diffReleases, type ReleaseDiff } from "@apisnoop/coverage";
import { buildCatalog, type Endpoint, loadSpec, normaliseRelease, releaseSources } from "@apisnoop/openapi";
import { CliError } from "../cli-error";
import type { Command } from "../command";
import { readEnv } from "../env";
import { parseOptions } from "../parse-options";

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

/** The diff as JSON: operationIds only, so it stays small and diffable. */
export function formatDiffJson(diff: ReleaseDiff): string {
  const ids = (endpoints: Endpoint[]) => endpoints.map((e) => e.operationId);
  return `${JSON.stringify(
    {
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
    },
    null,
    2,
  )}\n`;
}

export const compareCommand: Command = {
  name: "compare",
  help: `Usage: apisnoop compare --from 1.NN|SPEC --to 1.NN|SPEC [--format text|json]

Compares the endpoint sets of two releases (watch operations excluded, as apisnoop counts): endpoints
added and removed, promoted (the same operation of a kind at a higher level, e.g. v1beta1 → v1), and
newly deprecated. A release number is read from $APISNOOP_REFERENCE_DIR/openapi/v1.NN.swagger.json.gz
when that folder is set, else downloaded once from kubernetes/kubernetes and cached; a spec file or URL
may be given instead.

Options:
  --from 1.NN|SPEC      the earlier release
  --to 1.NN|SPEC        the later release
  --format text|json    output format (default: text)

Example:
  APISNOOP_REFERENCE_DIR=../shared/k8s apisnoop compare --from 1.33 --to 1.34`,
  async run(args, io) {
    const { values } = parseOptions("compare", args, {
      from: { type: "string" },
      to: { type: "string" },
      format: { type: "string", default: "text" },
    });
    if (!values.from || !values.to)
      throw new CliError("--from and --to are required (see 'apisnoop compare --help')", 2);
    if (values.format !== "text" && values.format !== "json") {
      throw new CliError(`--format must be text or json, not '${values.format}'`, 2);
    }
    const [from, to] = await Promise.all([loadRelease(values.from), loadRelease(values.to)]);
    const diff = diffReleases(from, to);
    io.stdout.write(values.format === "json" ? formatDiffJson(diff) : formatDiffText(diff));
    return 0;
  },
};
