import { type RequestMatcher, UNMATCHED_REASONS } from "@apisnoop/openapi";
import { contentBatchId, hitProblem, type IngestBatch, RollupBuilder } from "@apisnoop/protocol";
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
  /** Batches the store already held (the same content imported before): counted once. */
  duplicateBatches: number;
}

export interface AuditImportOptions {
  matcher: RequestMatcher;
  /** Release label of the spec the events were matched against. */
  release: string | null;
  /** `--source NAME`: an explicit source name for every hit. */
  sourceName?: string | null;
  /**
   * Receives each batch; the import waits for it (e.g. the database commit) before reading on. Batch ids
   * derive from content, so a store that keeps each id once counts a re-imported file once; it says so
   * by answering `{ duplicate: true }`.
   */
  onBatch: (batch: IngestBatch) => Promise<unknown>;
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
 * Malformed records, and records whose rows the ingest schema would refuse (a NUL, an over-long name),
 * are counted and listed with their line numbers, never fatal. Each file's batches are cut from its own
 * records alone and named by their content, so importing a file again — alone, among others, or renamed
 * by log rotation — stores nothing twice. (A file that grew since is stored again from its last batch.)
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

const ZERO_ID = "00000000-0000-4000-8000-000000000000";

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
    duplicateBatches: 0,
  };
  const flush = async () => {
    const drained = builder.drain(0, ZERO_ID);
    if (!drained) return;
    // Named by what it holds (not when it was made), so the same records make the same batch id.
    const batch = {
      ...drained,
      batchId: contentBatchId(importer, JSON.stringify(drained)),
      sentAt: Date.now(),
    };
    const stored = (await options.onBatch(batch)) as { duplicate?: unknown } | null | undefined;
    summary.batches++;
    if (stored?.duplicate === true) summary.duplicateBatches++;
  };
  for (const file of files) {
    for await (const record of readJsonObjects(openLog(file))) {
      summary.events++;
      let outcome =
        "error" in record ? { kind: "malformed" as const, error: record.error } : convert(record.value);
      if (outcome.kind === "hit") {
        const problem = hitProblem(outcome.hit);
        if (problem) outcome = { kind: "malformed", error: problem };
      }
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
    // A file's batches hold its records only, so its batch ids do not depend on the files beside it.
    await flush();
  }
  return summary;
}
