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

/**
 * Edge aggregation (issue 5): folds hits into the rollups of one IngestBatch — endpoint × source × status
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

  /** Folds one hit into the rollups. */
  add(hit: Hit): void {
    this.hitCount++;
    const source = this.sourceIndex(hit.source);
    const statusClass = statusClassOf(hit.status);
    const minute = Math.floor(hit.at / MINUTE);
    if (hit.operationId === null) {
      const key = `${source}\u0000${hit.method}\u0000${hit.path}\u0000${hit.reason}\u0000${statusClass}\u0000${minute}`;
      const row = this.unknownCalls.get(key);
      if (row) row.count++;
      else {
        this.unknownCalls.set(key, {
          source,
          method: hit.method,
          path: hit.path.slice(0, 2048),
          reason: hit.reason ?? "unknown",
          statusClass,
          minute,
          count: 1,
        });
      }
      return;
    }
    const key = `${source}\u0000${hit.operationId}\u0000${hit.method}\u0000${statusClass}\u0000${minute}`;
    let row = this.hits.get(key);
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
    this.foldFields(source, hit);
  }

  /**
   * Folds in only the field paths of a hit already counted with `add` (the proxy counts a hit when the
   * client's response ends and learns its fields afterwards).
   */
  addFields(hit: Hit): void {
    if (hit.operationId === null || (!hit.requestFields && !hit.responseFields)) return;
    this.foldFields(this.sourceIndex(hit.source), hit);
  }

  private foldFields(source: number, hit: Hit): void {
    const operationId = hit.operationId;
    if (operationId === null) return;
    const hour = Math.floor(hit.at / HOUR);
    if (hit.requestFields) this.addFieldRows(source, operationId, "request", hour, hit.requestFields);
    if (hit.responseFields) this.addFieldRows(source, operationId, "response", hour, hit.responseFields);
  }

  /** The batch of everything folded in so far (null when empty); the builder starts afresh. */
  drain(now = Date.now()): IngestBatch | null {
    if (this.hitCount === 0 && this.fields.size === 0) return null;
    const batch: IngestBatch = {
      protocol: PROTOCOL_VERSION,
      batchId: randomUUID(),
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
    return batch;
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
  ): void {
    for (const [paths, unknown] of [
      [report.fields, false],
      [report.unknown, true],
    ] as const) {
      for (const field of paths) {
        const key = `${source}\u0000${operationId}\u0000${direction}\u0000${field}\u0000${hour}`;
        const row = this.fields.get(key);
        if (row) row.count++;
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
  }
}
