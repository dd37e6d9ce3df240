/**
 * Fuzzing of the ingest decoder, which reads what any proxy sends: 100,000 batches, valid ones generated with random rows and then
 * mutated (retyped, dropped and added keys, out-of-range indexes, prototype keys, long and multi-line
 * strings, deep garbage, big arrays, binary attachments), sent as objects and through a JSON round trip.
 * decodeIngestBatch never throws, answers a batch whose source indexes hold or one short line, and keeps
 * nothing. The seed is printed; `FUZZ_SEED=<n>` replays a run.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { SeededChoices } from "@apisnoop/openapi/testing";
import { describe, expect, it } from "vitest";
import { decodeIngestBatch, PROTOCOL_VERSION, STATUS_CLASSES } from "./ingest";
import { sourceFromUserAgent } from "./source";

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const INPUTS = 100_000;
/** Every HOSTILE-th input is far bigger or deeper than the rest; the first round of each kind is full size. */
const HOSTILE = 1_000;
const HOSTILE_KINDS = 6;

function collector(): (() => void) | null {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  try {
    setFlagsFromString("--expose-gc");
    return runInNewContext("gc") as () => void;
  } catch {
    return null;
  }
}

const STRINGS = ["", "x", "GET", "2xx", "watch", "a\nb", "\u2028", "__proto__", "💥", "-1", "1e400"];
const LONG = "y".repeat(3000);
const KEYS = ["__proto__", "constructor", "toString", "hits", "source", "count", "details", "", "a\nb"];

class BatchFuzzer extends SeededChoices {
  /** A UUID zod accepts (version 4, RFC variant), from the seeded generator. */
  uuid(): string {
    const hex = (n: number) => Array.from({ length: n }, () => this.int(16).toString(16)).join("");
    return `${hex(8)}-${hex(4)}-4${hex(3)}-${this.pick(["8", "9", "a", "b"])}${hex(3)}-${hex(12)}`;
  }

  scalar(): unknown {
    return this.pick([
      null,
      undefined,
      0,
      -1,
      1.5,
      2 ** 53,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      true,
      this.pick(STRINGS),
      LONG,
    ]);
  }

  garbage(depth: number): unknown {
    const roll = this.random();
    if (depth > 4 || roll < 0.4) return this.scalar();
    if (roll < 0.6) return Array.from({ length: this.int(4) }, () => this.garbage(depth + 1));
    if (roll < 0.65) return Buffer.from([1, 2, 3]);
    const object: Record<string, unknown> = {};
    for (let i = this.int(4); i > 0; i--) setOwn(object, this.pick(KEYS), this.garbage(depth + 1));
    return object;
  }

  /** A valid batch: 1-4 sources and a few rows of each kind pointing at them. */
  batch(): Record<string, unknown> {
    const sources = Array.from({ length: 1 + this.int(4) }, () => {
      const source = sourceFromUserAgent(
        this.pick([
          "kubectl/v1.34.4",
          "e2e.test/v1.34.4 -- [sig-apps] Deployment [Conformance]",
          "Go-http-client/2.0",
        ]),
        this.random() < 0.3 ? "my-operator" : null,
      );
      if (this.random() < 0.5) Object.assign(source, { namespace: "ns", pod: "web-0", chart: "web-1.0.0" });
      return source;
    });
    const source = () => this.int(sources.length);
    const count = () => 1 + this.int(1000);
    const status = () => this.pick(STATUS_CLASSES);
    return {
      protocol: PROTOCOL_VERSION,
      batchId: this.uuid(),
      proxyId: "proxy-a",
      release: this.pick(["1.34", null]),
      sentAt: 1_764_000_000_000 + this.int(1e9),
      sources,
      hits: Array.from({ length: this.int(4) }, () => ({
        source: source(),
        operationId: this.pick(["listCoreV1NamespacedPod", "createAppsV1NamespacedDeployment"]),
        method: this.pick(["GET", "POST", "PATCH"]),
        statusClass: status(),
        minute: 29_400_000 + this.int(1000),
        count: count(),
        details: this.random() < 0.5 ? { watch: count(), "patch:apply": count() } : {},
      })),
      unknownCalls: Array.from({ length: this.int(3) }, () => ({
        source: source(),
        method: "GET",
        path: "/apis/x.io/v1/y",
        reason: "no such path",
        statusClass: status(),
        minute: 29_400_000,
        count: count(),
      })),
      fields: Array.from({ length: this.int(4) }, () => ({
        source: source(),
        operationId: "listCoreV1NamespacedPod",
        direction: this.pick(["request", "response"]),
        field: "io.k8s.api.core.v1.Pod:spec.containers[].image",
        unknown: this.random() < 0.2,
        hour: 490_000,
        count: count(),
      })),
    };
  }

  /** Edits anywhere in the batch: a value retyped or replaced, a key dropped, renamed or added, rows grown. */
  mutate(value: unknown, depth = 0): unknown {
    if (depth > 1 && this.random() < 0.3) return value;
    if (this.random() < 0.04) return this.garbage(2);
    if (Array.isArray(value)) {
      const items = value.map((item) => this.mutate(item, depth + 1));
      if (this.random() < 0.05) items.push(this.garbage(1));
      return items;
    }
    if (value === null || typeof value !== "object") {
      if (typeof value === "number" && this.random() < 0.1)
        return this.pick([value + 0.5, -value, value * 2 ** 40, 99]);
      return value;
    }
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      const roll = this.random();
      if (roll < 0.03) continue;
      setOwn(out, roll < 0.05 ? this.pick(KEYS) : key, this.mutate(child, depth + 1));
    }
    if (this.random() < 0.05) setOwn(out, this.pick([...KEYS, "k".repeat(this.int(2000))]), this.garbage(1));
    return out;
  }

  /** Inputs far beyond normal: huge row arrays, deep garbage, huge strings and keys, odd roots. */
  hostile(kind: number, scale: number): unknown {
    const size = (n: number) => Math.max(10, Math.floor(n * scale));
    const batch = this.batch();
    switch (kind) {
      case 0: {
        const row = (batch.hits as unknown[])[0] ?? this.batch().hits;
        batch.hits = Array.from({ length: size(200_000) }, (_, i) =>
          i === size(200_000) - 1 ? { ...(row as object), source: 9 } : row,
        );
        return batch;
      }
      case 1: {
        let deep: unknown = {};
        for (let i = 0; i < size(100_000); i++) deep = this.random() < 0.5 ? [deep] : { hits: deep };
        batch.fields = deep;
        return this.random() < 0.5 ? batch : deep;
      }
      case 2: {
        const long = `${"z".repeat(size(2_000_000))}\n`;
        return {
          ...batch,
          proxyId: long,
          hits: [{ ...((batch.hits as object[])[0] ?? {}), details: { [long]: 1 } }],
        };
      }
      case 3:
        return {
          ...batch,
          sources: Array.from({ length: size(100_001) }, () => (batch.sources as unknown[])[0]),
        };
      case 4:
        return JSON.parse(
          `{"__proto__":{"ok":true},"constructor":{"prototype":{"ok":true}},"protocol":${PROTOCOL_VERSION},"batchId":"${this.uuid()}","proxyId":"p","release":null,"sentAt":0,"sources":[],"hits":[{"__proto__":{"source":0},"operationId":"x","method":"GET","statusClass":"2xx","minute":0,"count":1,"details":{"__proto__":1,"constructor":2}}]}`,
        );
      default:
        return this.pick([
          null,
          undefined,
          0,
          "batch",
          [],
          [batch],
          Buffer.from(JSON.stringify(batch)),
          new Map(),
          () => batch,
          Symbol("s"),
        ]);
    }
  }
}

function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  } else object[key] = value;
}

describe(`decodeIngestBatch fuzz (seed ${SEED}; FUZZ_SEED=${SEED} replays it)`, () => {
  it(`answers ${INPUTS.toLocaleString("en")} random and mutated batches with a batch or one short line, never an exception, with a steady heap`, () => {
    console.log(`ingest.fuzz: seed ${SEED} (FUZZ_SEED=${SEED} replays this run)`);
    const fuzzer = new BatchFuzzer(SEED);
    const gc = collector();
    let heapBefore = 0;
    let accepted = 0;
    const reasons = new Set<string>();
    const started = Date.now();
    // Valid batches to start from; building one is slower than decoding it.
    const pool = Array.from({ length: 1_000 }, () => fuzzer.batch());
    for (let i = 0; i < INPUTS; i++) {
      if (i === 2 * HOSTILE) {
        gc?.();
        heapBefore = process.memoryUsage().heapUsed;
      }
      const round = i % HOSTILE === 0 ? Math.floor(i / HOSTILE / HOSTILE_KINDS) : -1;
      const roll = fuzzer.random();
      let input: unknown =
        round >= 0
          ? fuzzer.hostile((i / HOSTILE) % HOSTILE_KINDS, round === 0 ? 1 : 0.01)
          : roll < 0.1
            ? fuzzer.pick(pool)
            : roll < 0.9
              ? fuzzer.mutate(fuzzer.pick(pool))
              : fuzzer.garbage(0);
      // What Socket.IO really hands over: parsed JSON (no undefined, NaN as null, `__proto__` as own key).
      if (round < 0 && fuzzer.random() < 0.15) input = JSON.parse(JSON.stringify(input) ?? "null");
      const context = `seed ${SEED}, input ${i}`;
      let result: ReturnType<typeof decodeIngestBatch>;
      try {
        result = decodeIngestBatch(input);
      } catch (error) {
        throw new Error(`${context}: decodeIngestBatch threw ${(error as Error).stack ?? error}`);
      }
      if (result.ok) {
        accepted++;
        const { batch } = result;
        for (const rows of [batch.hits, batch.unknownCalls, batch.fields]) {
          for (const row of rows) {
            if (!(row.source < batch.sources.length && Number.isInteger(row.count) && row.count > 0)) {
              throw new Error(`${context}: accepted a bad row ${JSON.stringify(row)}`);
            }
          }
        }
      } else if (
        typeof result.error !== "string" ||
        !result.error.startsWith("invalid batch: ") ||
        /[\r\n\u2028\u2029]/.test(result.error) ||
        result.error.length > 512
      ) {
        throw new Error(`${context}: not one short line: ${JSON.stringify(result.error).slice(0, 600)}`);
      } else reasons.add(result.error.replace(/\d+/g, "N").slice(0, 80));
    }
    gc?.();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    console.log(
      `ingest.fuzz: ${INPUTS} inputs in ${Date.now() - started} ms, ${accepted} accepted, ${reasons.size} distinct reasons, heap ${growth >= 0 ? "+" : ""}${(growth / 2 ** 20).toFixed(1)} MiB (gc ${gc ? "on" : "off"})`,
    );
    expect(accepted, `seed ${SEED}`).toBeGreaterThan(INPUTS / 20);
    expect(accepted, `seed ${SEED}`).toBeLessThan(INPUTS);
    expect(reasons.size, `seed ${SEED}`).toBeGreaterThan(20);
    // The decoder keeps nothing between calls: with a collector the heap returns to within a few MiB.
    expect(growth, `seed ${SEED}`).toBeLessThan((gc ? 48 : 256) * 2 ** 20);
  });
});
