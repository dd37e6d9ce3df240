import { importAuditLogs, importHitFiles } from "@apisnoop/audit";
import { parseApisnoopCoverage, upstreamE2eBatch } from "@apisnoop/coverage";
import { recordBatch } from "@apisnoop/db";
import { compileMatcher, readSource, releaseSources } from "@apisnoop/openapi";
import { CliError } from "../cli-error";
import type { Command, CommandIO } from "../command";
import { DATABASE_OPTIONS, DATABASE_OPTIONS_HELP, withDatabase } from "../database-option";
import { readEnv } from "../env";
import { parseOptions } from "../parse-options";
import { resolveRelease, storeRelease } from "../release-option";

const AUDIT_OPTIONS = {
  release: { type: "string" },
  spec: { type: "string" },
  source: { type: "string" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  ...DATABASE_OPTIONS,
} as const;

async function importAudit(args: string[], io: CommandIO, kind: "audit" | "hits"): Promise<number> {
  const { values, positionals } = parseOptionsWithFiles(args);
  if (positionals.length === 0)
    throw new CliError("name at least one audit log file (see 'apisnoop import --help')", 2);
  const resolved = await resolveRelease(values, io);
  const matcher = compileMatcher(resolved.catalog);
  const tty = (io.stderr as NodeJS.WriteStream).isTTY === true;
  const started = Date.now();
  const summary = await withDatabase(values, io, async (db) => {
    await storeRelease(db, resolved);
    return (kind === "audit" ? importAuditLogs : importHitFiles)(positionals, {
      matcher,
      release: resolved.release,
      sourceName: values.source ?? null,
      onBatch: (batch) => recordBatch(db.prisma, batch),
      onProgress: tty
        ? (s, file) => {
            const rate = Math.round(s.events / Math.max(0.001, (Date.now() - started) / 1000));
            io.stderr.write(
              `\r${file}: ${s.events.toLocaleString("en-US")} events (${rate.toLocaleString("en-US")}/s)`,
            );
          }
        : undefined,
    });
  });
  if (tty) io.stderr.write("\n");
  for (const bad of summary.malformed) io.stderr.write(`${bad.file}:${bad.line}: ${bad.error}\n`);
  if (summary.malformedCount > summary.malformed.length) {
    io.stderr.write(`... and ${summary.malformedCount - summary.malformed.length} more malformed records\n`);
  }
  const seconds = (Date.now() - started) / 1000;
  io.stdout.write(
    `imported ${summary.events} events from ${positionals.length} file(s) in ${seconds.toFixed(1)} s against ${resolved.release}: ` +
      `${summary.hits} hits, ${summary.unknownCalls} unknown calls, ${summary.outsideSpec} calls to apiserver paths outside the spec, ` +
      `${summary.skipped} other-stage events skipped, ` +
      `${summary.malformedCount} malformed\n`,
  );
  if (summary.duplicateBatches > 0) {
    io.stdout.write(
      `${summary.duplicateBatches} of ${summary.batches} batches were imported before (the same records): counted once\n`,
    );
  }
  return 0;
}

function parseOptionsWithFiles(args: string[]) {
  // Files are positionals; parseOptions is strict about options only.
  const files: string[] = [];
  const options: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg.startsWith("--")) {
      options.push(arg);
      if (!arg.includes("=") && i + 1 < args.length) options.push(args[++i] as string);
    } else {
      files.push(arg);
    }
  }
  const { values } = parseOptions("import", options, AUDIT_OPTIONS);
  return { values, positionals: files };
}

async function importApisnoop(args: string[], io: CommandIO): Promise<number> {
  const { values } = parseOptions("import", args, {
    release: { type: "string" },
    file: { type: "string" },
    url: { type: "string" },
    ...DATABASE_OPTIONS,
  });
  if (!values.release) throw new CliError("--release 1.NN is required (see 'apisnoop import --help')", 2);
  if (values.file && values.url) throw new CliError("give --file or --url, not both", 2);
  const resolved = await resolveRelease({ release: values.release }, io);
  const source =
    values.file ??
    values.url ??
    releaseSources(resolved.release, readEnv().APISNOOP_REFERENCE_DIR).apisnoopCoverage;
  let coverage: ReturnType<typeof parseApisnoopCoverage>;
  try {
    coverage = parseApisnoopCoverage(
      JSON.parse((await readSource(source, { label: "coverage file" })).toString("utf8")),
    );
  } catch (error) {
    throw new Error(`${source}: ${(error as Error).message}`);
  }
  if (coverage.release !== resolved.release) {
    throw new CliError(`${source} is apisnoop coverage of ${coverage.release}, not ${resolved.release}`, 2);
  }
  const batch = upstreamE2eBatch(coverage, resolved.catalog, Date.now());
  const result = await withDatabase(values, io, async (db) => {
    await storeRelease(db, resolved);
    return recordBatch(db.prisma, batch);
  });
  const endpoints = new Set(batch.hits.map((h) => h.operationId)).size;
  io.stdout.write(
    `${result.duplicate ? "already imported" : "imported"} apisnoop coverage of ${coverage.release} as source upstream-e2e: ` +
      `${endpoints} of ${coverage.totalEndpoints} endpoints tested by ${batch.sources.length} e2e tests\n`,
  );
  return 0;
}

export const importCommand: Command = {
  name: "import",
  help: `Usage: apisnoop import audit <file…> (--release 1.NN | --spec FILE|URL|live) [--source NAME]
       apisnoop import hits <hits.jsonl…> (--release 1.NN | --spec FILE|URL|live) [--source NAME]
       apisnoop import apisnoop --release 1.NN [--file F | --url U]

import audit: reads Kubernetes audit logs (audit.k8s.io/v1 JSON lines, or pretty-printed events; plain
or .gz; streamed, any size) into the same rollups as proxy hits: verb + requestURI through the matcher,
the e2e test from the user agent. Only ResponseComplete events count (once per request). Malformed
records are reported with file and line and never stop the import.

import hits: reads files the proxy wrote with --out (e.g. an e2e run's hits.jsonl) the same way, each
request re-matched against the release named here.

import apisnoop: loads apisnoop's published coverage of a release as the source "upstream-e2e" — which
endpoints upstream e2e and conformance tests hit, and by which tests. Default location:
$APISNOOP_REFERENCE_DIR/apisnoop/1.NN.0.json.gz, else kubernetes-sigs/apisnoop on GitHub (cached).
Importing the same data again changes nothing.

Options:
  --release 1.NN         the release the data belongs to (its spec is loaded as with 'apisnoop compare')
  --spec FILE|URL|live   match audit events against this spec instead
  --source NAME          an explicit source name for every imported audit event
  --file F, --url U      where apisnoop's coverage JSON is (import apisnoop)
${DATABASE_OPTIONS_HELP}

Example:
  APISNOOP_REFERENCE_DIR=../shared/k8s apisnoop import audit .rig/audit.log --release 1.34`,
  async run(args, io) {
    const [what, ...rest] = args;
    if (what === "audit" || what === "hits") return importAudit(rest, io, what);
    if (what === "apisnoop") return importApisnoop(rest, io);
    throw new CliError(
      `import what? 'audit' or 'apisnoop', not '${what ?? ""}' (see 'apisnoop import --help')`,
      2,
    );
  },
};
