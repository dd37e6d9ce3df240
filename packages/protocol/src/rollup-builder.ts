import { randomUUID } from "node:crypto";
import type { Hit } from "./hit";
import {
  type FieldCount,
  type HitRollup,
  type IngestBatch,
  PROTOCOL_VERSION,
  statusClassOf,
  type UnknownCall,
} from "./ingest";
import { type Source, sourceKey } from "./source";

const MINUTE = 60_000;
const HOUR = 3_600_000;
/** The widths a builder's time buckets can have, in minutes: minute, hour, day. */
const BUCKET_MINUTES = [1, 60, 1440] as const;

/**
 * Edge aggregation: folds hits into the rollups of one IngestBatch — endpoint × source × status
 * class × minute, unknown calls, field counts per hour — so what is shipped grows with distinct keys, not
 * with request volume. `drain()` hands over the batch and starts a new one.
 */
export class RollupBuilder {
  private sources = new Map<string, number>();
  private sourcesByIdentity = new Map<Source, number>();
  private sourceList: Source[] = [];
  private hits = new Map<string, HitRollup>();
  private unknownCalls = new Map<string, UnknownCall>();
  private fields = new Map<string, FieldCount>();
  private hitCount = 0;
  private bucket = 0;

  /**
   * @param release the Kubernetes release the hits were matched against, stamped on each batch: fixed (an
   * import names it) or read at each drain (a proxy's spec may be refreshed while it runs).
   */
  constructor(
    private readonly proxyId: string,
    private readonly release: string | null | (() => string | null),
  ) {}

  /** Distinct rollup rows waiting to be shipped. */
  get keyCount(): number {
    return this.hits.size + this.unknownCalls.size + this.fields.size;
  }

  /** Hits folded in since the last drain. */
  get pendingHits(): number {
    return this.hitCount;
  }

  /**
   * Minutes per time bucket of hits and unknown calls: 1 unless `coarsen` widened them to an hour or a
   * day (hits are then counted at the first minute of their hour or day; field counts by day).
   */
  get bucketMinutes(): number {
    return BUCKET_MINUTES[this.bucket] as number;
  }

  /**
   * Widens the time buckets one step (minute → hour → day) and folds the rows already held into the
   * wider ones: the same hits in fewer rows, for a holder that must bound its memory. False when the
   * buckets are days already. The next `drain` goes back to minutes.
   */
  coarsen(): boolean {
    if (this.bucket === BUCKET_MINUTES.length - 1) return false;
    this.bucket++;
    const width = this.bucketMinutes;
    const fieldHours = Math.max(1, width / 60);
    const hits = this.hits;
    const unknownCalls = this.unknownCalls;
    const fields = this.fields;
    this.hits = new Map();
    this.unknownCalls = new Map();
    this.fields = new Map();
    for (const row of hits.values()) {
      const minute = Math.floor(row.minute / width) * width;
      const key = hitKey(row.source, row.operationId, row.method, row.statusClass, minute);
      const held = this.hits.get(key);
      if (!held) this.hits.set(key, { ...row, minute });
      else {
        held.count += row.count;
        for (const [detail, count] of Object.entries(row.details))
          held.details[detail] = (held.details[detail] ?? 0) + count;
      }
    }
    for (const row of unknownCalls.values()) {
      const minute = Math.floor(row.minute / width) * width;
      const key = unknownKey(row.source, row.method, row.path, row.reason, row.statusClass, minute);
      const held = this.unknownCalls.get(key);
      if (held) held.count += row.count;
      else this.unknownCalls.set(key, { ...row, minute });
    }
    for (const row of fields.values()) {
      const hour = Math.floor(row.hour / fieldHours) * fieldHours;
      const key = fieldKey(row.source, row.operationId, row.direction, row.field, hour);
      const held = this.fields.get(key);
      if (held) held.count += row.count;
      else this.fields.set(key, { ...row, hour });
    }
    return true;
  }

  /**
   * Folds one hit into the rollups. With `newRows` false it folds only into rows already held (a holder
   * out of room): a hit that would need a new row, or a new source, is not counted and `add` says so.
   */
  add(hit: Hit, newRows = true): boolean {
    const width = this.bucketMinutes;
    const minute = Math.floor(Math.floor(hit.at / MINUTE) / width) * width;
    const statusClass = statusClassOf(hit.status);
    let source: number;
    if (newRows) source = this.sourceIndex(hit.source);
    else {
      const known = this.knownSourceIndex(hit.source);
      if (known === undefined) return false;
      source = known;
    }
    if (hit.operationId === null) {
      const path = hit.path.length > 2048 ? hit.path.slice(0, 2048) : hit.path;
      const key = unknownKey(source, hit.method, path, hit.reason ?? "unknown", statusClass, minute);
      const row = this.unknownCalls.get(key);
      if (!row && !newRows) return false;
      this.hitCount++;
      if (row) row.count++;
      else {
        this.unknownCalls.set(key, {
          source,
          method: hit.method,
          path,
          reason: hit.reason ?? "unknown",
          statusClass,
          minute,
          count: 1,
        });
      }
      return true;
    }
    const key = hitKey(source, hit.operationId, hit.method, statusClass, minute);
    let row = this.hits.get(key);
    if (!row && !newRows) return false;
    this.hitCount++;
    if (!row) {
      row = {
        source,
        operationId: hit.operationId,
        method: hit.method,
        statusClass,
        minute,
        count: 0,
        details: {},
      };
      this.hits.set(key, row);
    }
    row.count++;
    for (const detail of hit.details ?? []) row.details[detail] = (row.details[detail] ?? 0) + 1;
    this.foldFields(source, hit, newRows);
    return true;
  }

  /**
   * Folds in only the field paths of a hit already counted with `add` (the proxy counts a hit when the
   * client's response ends and learns its fields afterwards). With `newRows` false, only into field rows
   * already held; returns how many field uses were left out for want of a row.
   */
  addFields(hit: Hit, newRows = true): number {
    if (hit.operationId === null || (!hit.requestFields && !hit.responseFields)) return 0;
    const source = newRows ? this.sourceIndex(hit.source) : this.knownSourceIndex(hit.source);
    if (source === undefined) return countFields(hit);
    return this.foldFields(source, hit, newRows);
  }

  /** Folds a hit's field paths; returns how many were left out (only with `newRows` false). */
  private foldFields(source: number, hit: Hit, newRows: boolean): number {
    const operationId = hit.operationId;
    if (operationId === null) return 0;
    const fieldHours = Math.max(1, this.bucketMinutes / 60);
    const hour = Math.floor(Math.floor(hit.at / HOUR) / fieldHours) * fieldHours;
    let left = 0;
    if (hit.requestFields)
      left += this.addFieldRows(source, operationId, "request", hour, hit.requestFields, newRows);
    if (hit.responseFields)
      left += this.addFieldRows(source, operationId, "response", hour, hit.responseFields, newRows);
    return left;
  }

  /**
   * The batch of everything folded in so far (null when empty); the builder starts afresh, with minute
   * buckets. `batchId` names it (default: a random UUID), e.g. after its content for an import.
   */
  drain(now = Date.now(), batchId: string = randomUUID()): IngestBatch | null {
    if (this.hitCount === 0 && this.fields.size === 0) return null;
    const batch: IngestBatch = {
      protocol: PROTOCOL_VERSION,
      batchId,
      proxyId: this.proxyId,
      release: typeof this.release === "function" ? this.release() : this.release,
      sentAt: now,
      sources: this.sourceList,
      hits: [...this.hits.values()],
      unknownCalls: [...this.unknownCalls.values()],
      fields: [...this.fields.values()],
    };
    this.sources = new Map();
    this.sourcesByIdentity = new Map();
    this.sourceList = [];
    this.hits = new Map();
    this.unknownCalls = new Map();
    this.fields = new Map();
    this.hitCount = 0;
    this.bucket = 0;
    return batch;
  }

  /** The index of a source already held, without adding it. */
  private knownSourceIndex(source: Source): number | undefined {
    return this.sourcesByIdentity.get(source) ?? this.sources.get(sourceKey(source));
  }

  private sourceIndex(source: Source): number {
    // Callers reuse Source objects per client, so identity finds most of them without building the key.
    let index = this.sourcesByIdentity.get(source);
    if (index !== undefined) return index;
    const key = sourceKey(source);
    index = this.sources.get(key);
    if (index === undefined) {
      index = this.sourceList.length;
      this.sourceList.push(source);
      this.sources.set(key, index);
    }
    this.sourcesByIdentity.set(source, index);
    return index;
  }

  private addFieldRows(
    source: number,
    operationId: string,
    direction: "request" | "response",
    hour: number,
    report: { fields: Iterable<string>; unknown: Iterable<string> },
    newRows: boolean,
  ): number {
    let left = 0;
    for (const [paths, unknown] of [
      [report.fields, false],
      [report.unknown, true],
    ] as const) {
      for (const field of paths) {
        const key = fieldKey(source, operationId, direction, field, hour);
        const row = this.fields.get(key);
        if (row) row.count++;
        else if (!newRows) left++;
        else
          this.fields.set(key, {
            source,
            operationId,
            direction,
            field: field.slice(0, 2048),
            unknown,
            hour,
            count: 1,
          });
      }
    }
    return left;
  }
}

function hitKey(source: number, operationId: string, method: string, statusClass: string, minute: number) {
  return `${source}\u0000${operationId}\u0000${method}\u0000${statusClass}\u0000${minute}`;
}

function unknownKey(
  source: number,
  method: string,
  path: string,
  reason: string,
  statusClass: string,
  minute: number,
) {
  return `${source}\u0000${method}\u0000${path}\u0000${reason}\u0000${statusClass}\u0000${minute}`;
}

function fieldKey(source: number, operationId: string, direction: string, field: string, hour: number) {
  return `${source}\u0000${operationId}\u0000${direction}\u0000${field}\u0000${hour}`;
}

/** Field uses a hit reports, for counting those left out. */
function countFields(hit: Hit): number {
  let count = 0;
  for (const report of [hit.requestFields, hit.responseFields]) {
    if (!report) continue;
    for (const _ of report.fields) count++;
    for (const _ of report.unknown) count++;
  }
  return count;
}
