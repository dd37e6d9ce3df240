/**
 * Fuzzing of the field walker, which reads hostile bodies: at least 100,000 bodies generated from the real 1.34 definitions,
 * mutated, or hostile (deep, wide, huge, cyclic, shared, prototype keys, long keys, non-objects), walked
 * plainly, as strategic merge patches and as JSON patches. No exception, reports within the limits, heap
 * back to where it was. The seed is printed; `FUZZ_SEED=<n>` replays a run.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { emptyFieldReport, type FieldLimits, type FieldReport, FieldSchema } from "./fields";
import { sharedCatalog } from "./testing";
import type { SwaggerSchema } from "./types";
import { SeededChoices } from "./url-corpus";

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const BODIES = 100_000;
/** Bodies generated from definitions, mutated afresh each time they are used (generating is the slow part). */
const POOL = 2_000;
/** Every HOSTILE-th body is a hostile one; the first round of each kind uses full sizes and default limits. */
const HOSTILE = 1_000;
const HOSTILE_KINDS = 9;
const definitions = sharedCatalog("1.34").definitions;
const names = Object.keys(definitions);
const DEFAULT_LIMITS: FieldLimits = { maxDepth: 64, maxFields: 10_000, maxVisits: 500_000 };
const SMALL_LIMITS: FieldLimits = { maxDepth: 8, maxFields: 50, maxVisits: 2_000 };
const schemas = [new FieldSchema(definitions), new FieldSchema(definitions, SMALL_LIMITS)];

/** A garbage collector to measure the heap with: exposed at run time when node was not started with it. */
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

const PROTOTYPE_KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf"];
const DIRECTIVES = ["$patch", "$retainKeys", "$setElementOrder/containers", "$deleteFromPrimitiveList/args"];

class BodyFuzzer extends SeededChoices {
  key(): string {
    const roll = this.random();
    if (roll < 0.15) return this.pick(PROTOTYPE_KEYS);
    if (roll < 0.25) return this.pick(DIRECTIVES);
    // Long keys (hostile kind 6 has megabyte ones); rare here, as hashing them dominates the run time.
    if (roll < 0.26) return "k".repeat(1 + this.int(5_000));
    if (roll < 0.35)
      return String.fromCharCode(...Array.from({ length: 1 + this.int(8) }, () => this.int(0x10000)));
    if (roll < 0.4) return "";
    return this.pick([
      "spec",
      "metadata",
      "items",
      "name",
      "labels",
      "containers",
      "x",
      "0",
      "a/b",
      "~1",
      ".",
    ]);
  }

  scalar(): unknown {
    return this.pick([
      null,
      0,
      -1,
      1.5,
      Number.MAX_VALUE,
      "",
      "x",
      "2026-01-01T00:00:00Z",
      true,
      false,
      undefined,
    ]);
  }

  /** Any JSON-ish value, not following a schema. */
  value(depth: number): unknown {
    const roll = this.random();
    if (depth > 6 || roll < 0.35) return this.scalar();
    if (roll < 0.6) return Array.from({ length: this.int(5) }, () => this.value(depth + 1));
    return this.object(() => this.value(depth + 1));
  }

  /** An object with own keys only, `__proto__` included (as JSON.parse makes it, not as a literal would). */
  object(child: () => unknown, count = this.int(6)): Record<string, unknown> {
    const object: Record<string, unknown> = {};
    for (let i = 0; i < count; i++) {
      setOwn(object, this.key(), child());
    }
    return object;
  }

  /** A body shaped by a schema: the kind of object a client really sends, with a random subset of fields. */
  generate(schema: SwaggerSchema | undefined, depth: number): unknown {
    const resolved = resolve(schema);
    if (!resolved || depth > 7) return this.scalar();
    if (resolved.type === "array" && resolved.items) {
      return Array.from({ length: this.int(4) }, () => this.generate(resolved.items, depth + 1));
    }
    if (resolved.properties) {
      const object: Record<string, unknown> = {};
      for (const [key, property] of Object.entries(resolved.properties)) {
        if (this.random() < 0.3) object[key] = this.generate(property, depth + 1);
      }
      return object;
    }
    if (typeof resolved.additionalProperties === "object") {
      const values = resolved.additionalProperties;
      return Object.fromEntries(
        Array.from({ length: this.int(4) }, (_, i) => [`key${i}`, this.generate(values, depth + 1)]),
      );
    }
    if (resolved.type === "object" || resolved.type === undefined) return this.value(depth + 2);
    return this.pick([resolved.type === "string" ? "s" : 1, true, null]);
  }

  /** Small edits: dropped, renamed, retyped and added keys, directives, prototype keys, wrapped values. */
  mutate(value: unknown, depth = 0): unknown {
    // Below the top, a third of the subtrees are kept as they are (shared, not copied): copying is the slow part.
    if (depth > 12 || (depth > 1 && this.random() < 0.33)) return value;
    if (value === null || typeof value !== "object") return this.random() < 0.1 ? this.value(3) : value;
    if (Array.isArray(value)) {
      const items = value.map((item) => this.mutate(item, depth + 1));
      if (this.random() < 0.1) items.push(this.value(2));
      return this.random() < 0.05 ? { items } : items;
    }
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      const roll = this.random();
      if (roll < 0.05) continue;
      const name =
        roll < 0.1 ? `${key}${this.pick(["x", "s", "_", "/", "~"])}` : roll < 0.13 ? this.key() : key;
      const replaced = this.random() < 0.08 ? this.value(3) : this.mutate(child, depth + 1);
      setOwn(out, name, replaced);
    }
    if (this.random() < 0.15)
      Object.assign(
        out,
        this.object(() => this.value(4), 1),
      );
    return this.random() < 0.03 ? [out] : out;
  }

  /**
   * Bodies no client should send: far deeper, wider or bigger than the limits, cyclic, shared, long keys.
   * `scale` 1 is full size; smaller keeps later rounds quick.
   */
  hostile(kind: number, scale: number): unknown {
    const size = (n: number) => Math.max(10, Math.floor(n * scale));
    switch (kind) {
      case 0: {
        // Deeper than any stack: built iteratively along a recursive schema (JSONSchemaProps) or generic keys.
        let deep: unknown = { type: "string" };
        const key = this.pick(["properties", "spec", "items", "not"]);
        for (let i = 0, n = size(20_000); i < n; i++) deep = { [key]: { a: deep }, not: deep === null };
        return { spec: { versions: [{ schema: { openAPIV3Schema: deep } }], template: deep } };
      }
      case 1: {
        let nested: unknown = [];
        for (let i = 0, n = size(50_000); i < n; i++) nested = [nested];
        return { spec: { template: { spec: { containers: nested } } }, items: nested };
      }
      case 2: {
        const item = this.mutate({
          name: "c",
          image: "i",
          ports: [{ containerPort: 1 }],
          env: [{ name: "A" }],
        });
        const containers = Array.from({ length: size(50_000) }, (_, i) =>
          i % 3 === 0 ? item : i % 3 === 1 ? this.scalar() : { [`f${i}`]: i },
        );
        return { spec: { template: { spec: { containers } }, containers }, items: containers };
      }
      case 3: {
        const labels = Object.fromEntries(
          Array.from({ length: size(20_000) }, (_, i) => [`k${i}`, { v: i }]),
        );
        return { metadata: { labels, annotations: labels }, data: labels, spec: labels };
      }
      case 4: {
        // A real cycle: only an in-process caller could make one, but nothing must loop forever on it.
        const cyclic: Record<string, unknown> = { metadata: { name: "x" } };
        cyclic.spec = cyclic;
        cyclic.items = [cyclic, cyclic];
        (cyclic.metadata as Record<string, unknown>).labels = cyclic;
        return cyclic;
      }
      case 5: {
        // Shared parts fanning out, as YAML aliases load: 2^depth paths through depth objects.
        let shared: unknown = { type: "string", name: "x" };
        for (let i = 0; i < 40; i++)
          shared = { properties: { p: shared, q: shared }, spec: shared, items: [shared, shared] };
        return {
          spec: { versions: [{ schema: { openAPIV3Schema: shared } }], template: shared },
          items: [shared],
        };
      }
      case 6:
        return {
          ["x".repeat(1_000_000)]: 1,
          metadata: { ["l".repeat(100_000)]: { ["m".repeat(100_000)]: 1 } },
        };
      case 7:
        return JSON.parse(
          '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"metadata":{"__proto__":{"a":1},"labels":{"__proto__":"x","constructor":"y"}},"spec":{"toString":1,"hasOwnProperty":{"a":1}}}',
        );
      default:
        return this.pick([
          null,
          undefined,
          0,
          "string",
          true,
          [],
          {},
          [null],
          [[]],
          Number.NaN,
          10n,
          () => 1,
          Symbol("s"),
        ]);
    }
  }

  /** JSON patch operations: pointers down the schema (indexes, `-`, escaped map keys) and garbage ones. */
  jsonPatch(root: SwaggerSchema | undefined, body: unknown): unknown {
    if (this.random() < 0.05) return this.value(2);
    return Array.from({ length: this.int(6) }, () => {
      if (this.random() < 0.1) return this.scalar();
      const operation: Record<string, unknown> = {
        op: this.pick(["add", "remove", "replace", "move", "copy", "test", "nonsense"]),
        path:
          this.random() < 0.85
            ? this.pointer(root)
            : this.pick([42, null, "", "/", "no-slash", "//", "/~2/~"]),
      };
      if (this.random() < 0.3) operation.from = this.pointer(root);
      // The body itself (already mutated or generated) or a small value: mutating per operation is slow.
      if (this.random() < 0.7) operation.value = this.random() < 0.5 ? body : this.value(1);
      return operation;
    });
  }

  pointer(root: SwaggerSchema | undefined): string {
    const tokens: string[] = [];
    let schema = resolve(root);
    for (let depth = 0; depth < 1 + this.int(12) && schema; depth++) {
      if (this.random() < 0.1) {
        tokens.push(this.pick(["__proto__", "constructor", "x", "0", "-", "~01", "a~1b", "k".repeat(5000)]));
        schema = undefined;
      } else if (schema.type === "array" && schema.items) {
        tokens.push(this.pick(["0", "1", "-", "999999"]));
        schema = resolve(schema.items);
      } else if (schema.properties) {
        const key = this.pick(Object.keys(schema.properties));
        tokens.push(key);
        schema = resolve(schema.properties[key]);
      } else if (typeof schema.additionalProperties === "object") {
        tokens.push(this.pick(["app", "app.kubernetes.io~1name", "~0tilde", ""]));
        schema = resolve(schema.additionalProperties);
      } else break;
    }
    return tokens.map((token) => `/${token}`).join("");
  }
}

/** `object[key] = value` as JSON.parse does it: `__proto__` becomes an own key, not the prototype. */
function setOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  } else object[key] = value;
}

function resolve(schema: SwaggerSchema | undefined): SwaggerSchema | undefined {
  let current = schema;
  for (let hops = 0; current?.$ref && hops < 16; hops++) {
    current = definitions[FieldSchema.definitionName(current.$ref)];
  }
  return current;
}

function checkReport(report: FieldReport, limits: FieldLimits, context: string): void {
  if (report.fields.size + report.unknown.size > limits.maxFields) {
    throw new Error(
      `${context}: ${report.fields.size} fields + ${report.unknown.size} unknown > ${limits.maxFields}`,
    );
  }
  for (const path of [...report.fields, ...report.unknown]) {
    if (typeof path !== "string" || !path.includes(":"))
      throw new Error(`${context}: bad path ${String(path)}`);
  }
  // No 1.34 definition has a property named like an Object.prototype member: such a field is unknown.
  for (const path of report.fields) {
    const segments = path.slice(path.indexOf(":") + 1).split(/[.[\]{}]+/);
    if (segments.some((segment) => PROTOTYPE_KEYS.includes(segment))) {
      throw new Error(`${context}: prototype member reported as a field: ${path.slice(0, 200)}`);
    }
  }
}

describe(`FieldSchema fuzz (seed ${SEED}; FUZZ_SEED=${SEED} replays it)`, () => {
  it(`walks ${BODIES.toLocaleString("en")} generated, mutated and hostile bodies without an exception, within its limits and with a steady heap`, () => {
    console.log(`fields.fuzz: seed ${SEED} (FUZZ_SEED=${SEED} replays this run)`);
    const fuzzer = new BodyFuzzer(SEED);
    const gc = collector();
    let heapBefore = 0;
    let fieldsSeen = 0;
    let truncated = 0;
    const started = Date.now();
    const pool = Array.from({ length: POOL }, () => {
      const name = fuzzer.pick(names);
      return { name, body: fuzzer.generate(definitions[name], 0) };
    });
    for (let i = 0; i < BODIES; i++) {
      if (i === 2 * HOSTILE) {
        gc?.();
        heapBefore = process.memoryUsage().heapUsed;
      }
      const pooled = fuzzer.pick(pool);
      const name =
        fuzzer.random() < 0.05 ? fuzzer.pick(["constructor", "__proto__", "no.such.Kind", ""]) : pooled.name;
      const ref = fuzzer.random() < 0.5 ? `#/definitions/${name}` : name;
      const hostileRound = i % HOSTILE === 0 ? Math.floor(i / HOSTILE / HOSTILE_KINDS) : -1;
      const roll = fuzzer.random();
      const body =
        hostileRound >= 0
          ? fuzzer.hostile((i / HOSTILE) % HOSTILE_KINDS, hostileRound === 0 ? 1 : 0.02)
          : roll < 0.35
            ? pooled.body
            : roll < 0.85
              ? fuzzer.mutate(pooled.body)
              : fuzzer.value(0);
      const small = hostileRound > 0 || (hostileRound < 0 && fuzzer.random() < 0.2);
      const schema = schemas[small ? 1 : 0] as FieldSchema;
      const limits = small ? SMALL_LIMITS : DEFAULT_LIMITS;
      const context = `seed ${SEED}, body ${i} (${name})`;
      try {
        const report = schema.walk(ref, body, emptyFieldReport(), {
          strategicMergePatch: fuzzer.random() < 0.4,
        });
        checkReport(report, limits, context);
        fieldsSeen += report.fields.size;
        if (report.truncated) truncated++;
        if (i % 3 === 0 || hostileRound === 0) {
          // A hostile body is the patch's value as it is; mutating it again would only cost time.
          const operations =
            hostileRound >= 0
              ? [{ op: "add", path: fuzzer.pointer(definitions[name]), value: body }]
              : fuzzer.jsonPatch(definitions[name], body);
          const patched = schema.walkJsonPatch(ref, operations, emptyFieldReport());
          checkReport(patched, limits, `${context}, JSON patch`);
        }
        if (i % 997 === 0) schema.listItemRef(ref);
      } catch (error) {
        throw new Error(`${context}: ${(error as Error).stack ?? error}`);
      }
    }
    gc?.();
    const growth = process.memoryUsage().heapUsed - heapBefore;
    console.log(
      `fields.fuzz: ${BODIES} bodies in ${Date.now() - started} ms, ${fieldsSeen} fields, ${truncated} truncated, heap ${growth >= 0 ? "+" : ""}${(growth / 2 ** 20).toFixed(1)} MiB (gc ${gc ? "on" : "off"})`,
    );
    expect(fieldsSeen, `seed ${SEED}`).toBeGreaterThan(BODIES);
    expect(truncated, `seed ${SEED}`).toBeGreaterThan(0);
    // Nothing is kept between walks: with a collector the heap returns to within a few MiB.
    expect(growth, `seed ${SEED}`).toBeLessThan((gc ? 48 : 256) * 2 ** 20);
  });
});
