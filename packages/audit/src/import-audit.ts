import { type RequestMatcher, UNMATCHED_REASONS } from "@apisnoop/openapi";
import { type IngestBatch, RollupBuilder } from "@apisnoop/protocol";
import { type AuditOutcome, auditEventToHit } from "./audit-event";
import { hitLineToHit } from "./hit-line";
import { openLog, readJsonObjects } from "./json-objects";

/** What an import saw. Malformed records keep their file and line, so a user can look at them. */
export interface AuditImportSummary {
  events: number;
  hits: number;
  unknownCalls: number;
  /** Calls to paths every apiserver serves outside its spec (`/healthz`, `/openapi/v3`): not unknown. */
  outsideSpec: number;
  /** Events of other stages than ResponseComplete (counted once, at completion). */
  skipped: number;
  malformed: { file: string; line: number; error: string }[];
  /** Malformed records beyond the first `maxMalformedListed` are only counted. */
  malformedCount: number;
  batches: number;
}

export interface AuditImportOptions {
  matcher: RequestMatcher;
  /** Release label of the spec the events were matched against. */
  release: string | null;
  /** `--source NAME`: an explicit source name for every hit. */
  sourceName?: string | null;
  /** Receives each batch; the import waits for it (e.g. the database commit) before reading on. */
  onBatch: (batch: IngestBatch) => Promise<void>;
  /** Called every `progressEvery` events with the running summary and the current file. */
  onProgress?: (summary: AuditImportSummary, file: string) => void;
  /** Ship a batch once this many distinct rollup rows are pending (default 20,000). */
  maxKeys?: number;
  maxMalformedListed?: number;
  progressEvery?: number;
}

/**
 * Imports audit logs (JSON lines or pretty-printed, plain or .gz, streamed: any size) into rollups, in
 * batches handed to `onBatch` — the same batches the proxy ships, so both land in the same tables.
 * Malformed records are counted and listed with their line numbers, never fatal.
 */
export function importAuditLogs(files: string[], options: AuditImportOptions): Promise<AuditImportSummary> {
  return importLogs(files, options, "audit-import", (value) =>
    auditEventToHit(value, options.matcher, options.sourceName ?? null),
  );
}

/**
 * Imports files the proxy wrote with `--out` (one JSON line per request: ts, method, path, query, status,
 * userAgent) into rollups, re-matching each request against `options.matcher`'s release.
 */
export function importHitFiles(files: string[], options: AuditImportOptions): Promise<AuditImportSummary> {
  return importLogs(files, options, "hits-import", (value) =>
    hitLineToHit(value, options.matcher, options.sourceName ?? null),
  );
}

/** Streams records of `files` through `convert` into RollupBuilder batches handed to `onBatch`. */
async function importLogs(
  files: string[],
  options: AuditImportOptions,
  importer: string,
  convert: (value: unknown) => AuditOutcome,
): Promise<AuditImportSummary> {
  const builder = new RollupBuilder(importer, options.release);
  const maxKeys = options.maxKeys ?? 20_000;
  const maxListed = options.maxMalformedListed ?? 100;
  const progressEvery = options.progressEvery ?? 10_000;
  const summary: AuditImportSummary = {
    events: 0,
    hits: 0,
    unknownCalls: 0,
    outsideSpec: 0,
    skipped: 0,
    malformed: [],
    malformedCount: 0,
    batches: 0,
  };
  const flush = async () => {
    const batch = builder.drain();
    if (!batch) return;
    await options.onBatch(batch);
    summary.batches++;
  };
  for (const file of files) {
    for await (const record of readJsonObjects(openLog(file))) {
      summary.events++;
      const outcome =
        "error" in record ? { kind: "malformed" as const, error: record.error } : convert(record.value);
      if (outcome.kind === "hit") {
        builder.add(outcome.hit);
        if (outcome.hit.operationId !== null) summary.hits++;
        else if (outcome.hit.reason === UNMATCHED_REASONS.outsideSpec) summary.outsideSpec++;
        else summary.unknownCalls++;
        if (builder.keyCount >= maxKeys) await flush();
      } else if (outcome.kind === "skipped") {
        summary.skipped++;
      } else {
        summary.malformedCount++;
        if (summary.malformed.length < maxListed)
          summary.malformed.push({ file, line: record.line, error: outcome.error });
      }
      if (options.onProgress && summary.events % progressEvery === 0) options.onProgress(summary, file);
    }
  }
  await flush();
  return summary;
}
