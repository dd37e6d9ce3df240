import type { Endpoint, SwaggerSchema } from "./types";

/**
 * Field coverage: which fields of an operation's schema a body used (GUIDE §3 field paths,
 * `<definition>:<dotted.path>`, `[]` for array items, `{}` for map values) and which fields it sent that
 * the schema does not have. Only paths are kept, never values (GUIDE §4).
 */
export interface FieldReport {
  /** Every field path present in the body, objects and leaves alike. */
  fields: Set<string>;
  /** Fields present in the body but absent from the schema. */
  unknown: Set<string>;
  /** The body hit a limit (depth or field count) and was not walked entirely. */
  truncated: boolean;
}

/**
 * The definition an endpoint's request bodies are read against: its body parameter's, except for PATCH,
 * whose body the spec types as a free-form `Patch`: the object it patches. Null without a body.
 */
export function requestSchemaRef(
  endpoint: Pick<Endpoint, "method" | "requestBodyRef" | "responseRefs">,
): string | null {
  if (endpoint.method === "PATCH") return endpoint.responseRefs["200"] ?? null;
  return endpoint.requestBodyRef;
}

/** Limits that keep a hostile or huge body from costing unbounded time or memory. */
export interface FieldLimits {
  maxDepth: number;
  maxFields: number;
  /**
   * Values visited per walk. Bounds the time of bodies whose parts are shared: a YAML body's aliases
   * (`*a`) load as one object reached by many paths, so a few hundred bytes can fan out exponentially
   * without adding a distinct field. Default 500,000 (a 2 MiB PodList of realistic pods is about 125,000).
   */
  maxVisits?: number;
}

const DEFAULT_MAX_VISITS = 500_000;
const DEFAULT_LIMITS: FieldLimits = { maxDepth: 64, maxFields: 10_000, maxVisits: DEFAULT_MAX_VISITS };

/** Creates an empty report. */
export function emptyFieldReport(): FieldReport {
  return { fields: new Set(), unknown: new Set(), truncated: false };
}

/** How a body is to be read against its schema. */
export interface WalkOptions {
  /** Strategic-merge-patch directives (`$patch`, `$setElementOrder/...`, ...) are not fields. */
  strategicMergePatch?: boolean;
}

/**
 * Walks bodies against the schema definitions of one spec, resolving `$ref`s. Maps,
 * `x-kubernetes-preserve-unknown-fields`, and free-form types (IntOrString, Quantity, RawExtension, JSON,
 * FieldsV1: schemas with no properties) are never unknown.
 */
export class FieldSchema {
  /** Values visited by the running walk (walks are synchronous, so one counter serves every call). */
  private visits = 0;
  /** Schemas with their `$ref`s followed: the spec's schema objects, so a bounded set. */
  private readonly resolvedSchemas = new WeakMap<SwaggerSchema, SwaggerSchema | undefined>();
  /** Field paths by parent path and child key (see `childPath`). */
  private readonly paths = new Map<string, Map<string, string>>();

  constructor(
    private readonly definitions: Record<string, SwaggerSchema>,
    private readonly limits: FieldLimits = DEFAULT_LIMITS,
  ) {}

  /** The definition name of a `#/definitions/...` ref (`io.k8s.api.core.v1.Pod`). */
  static definitionName(ref: string): string {
    return ref.startsWith("#/definitions/") ? ref.slice("#/definitions/".length) : ref;
  }

  /** The ref of a list definition's item type (`PodList` -> `Pod`), or null if it is not a list. */
  listItemRef(listRef: string): string | null {
    const items = own(own(this.definitions, FieldSchema.definitionName(listRef))?.properties, "items");
    return items?.type === "array" && items.items?.$ref ? items.items.$ref : null;
  }

  /** Adds the fields of `body`, read as an instance of definition `ref`, to `report`. */
  walk(ref: string, body: unknown, report: FieldReport, options: WalkOptions = {}): FieldReport {
    const root = FieldSchema.definitionName(ref);
    const schema = own(this.definitions, root);
    if (!schema) return report;
    this.visits = 0;
    this.visit(schema, body, `${root}:`, 0, report, options);
    return report;
  }

  /**
   * Every field path of definition `ref` as `walk` names them: objects and leaves, `[]` for items of
   * arrays of objects (`walk` names no scalar item), `{}` for map values. A definition is not entered again
   * below itself (JSONSchemaProps holds JSONSchemaProps): its field is listed, its own fields once, higher
   * up. Free-form values and `x-kubernetes-preserve-unknown-fields` have no fields. What a body of this
   * definition could carry: the denominator of field coverage.
   */
  schemaFields(ref: string): string[] {
    const root = FieldSchema.definitionName(ref);
    const fields: string[] = [];
    const within = new Set<string>([root]);
    const visit = (schema: SwaggerSchema | undefined, path: string, depth: number) => {
      if (!schema || depth > this.limits.maxDepth || fields.length >= MAX_SCHEMA_FIELDS) return;
      const definition = refName(schema);
      if (definition !== null) {
        if (within.has(definition)) return;
        within.add(definition);
      }
      const resolved = this.resolve(schema);
      if (resolved) {
        if (resolved.type === "array" && resolved.items) {
          const items = this.resolve(resolved.items);
          if (items && !isScalar(items)) {
            const itemPath = `${path}[]`;
            fields.push(itemPath);
            visit(resolved.items, itemPath, depth + 1);
          }
        } else if (!resolved["x-kubernetes-preserve-unknown-fields"] && !isFreeForm(resolved)) {
          for (const key of Object.keys(resolved.properties ?? {})) {
            const childPath = joinPath(path, key);
            fields.push(childPath);
            visit(resolved.properties?.[key], childPath, depth + 1);
          }
          if (typeof resolved.additionalProperties === "object") {
            const valuePath = `${path}{}`;
            fields.push(valuePath);
            visit(resolved.additionalProperties, valuePath, depth + 1);
          }
        }
      }
      if (definition !== null) within.delete(definition);
    };
    visit(own(this.definitions, root), `${root}:`, 0);
    return fields;
  }

  /**
   * Adds the fields a JSON patch (RFC 6902) touches: each operation's `path` (and `from`) followed through
   * the schema, plus the fields of its `value`.
   */
  walkJsonPatch(ref: string, operations: unknown, report: FieldReport): FieldReport {
    const root = FieldSchema.definitionName(ref);
    const schema = own(this.definitions, root);
    if (!schema || !Array.isArray(operations)) return report;
    this.visits = 0;
    for (const operation of operations.slice(0, this.limits.maxFields)) {
      if (!operation || typeof operation !== "object") continue;
      const { path, from, value } = operation as { path?: unknown; from?: unknown; value?: unknown };
      for (const pointer of [path, from]) {
        if (typeof pointer !== "string") continue;
        const target = this.followPointer(schema, root, pointer, report);
        if (target && pointer === path && value !== undefined) {
          this.visit(target.schema, value, `${root}:${target.path}`, target.depth, report, {});
        }
      }
    }
    return report;
  }

  private followPointer(
    schema: SwaggerSchema,
    root: string,
    pointer: string,
    report: FieldReport,
  ): { schema: SwaggerSchema; path: string; depth: number } | null {
    const tokens = pointer.split("/").slice(1);
    let current: SwaggerSchema | undefined = this.resolve(schema);
    let path = "";
    for (let depth = 0; depth < tokens.length; depth++) {
      if (!current || depth >= this.limits.maxDepth) return null;
      const token = (tokens[depth] as string).replace(/~1/g, "/").replace(/~0/g, "~");
      if (current.type === "array" && current.items) {
        path += "[]";
        current = this.resolve(current.items);
      } else if (current.properties) {
        const property = own(current.properties, token);
        if (!property) {
          if (!isFreeForm(current)) this.add(report.unknown, `${root}:${join(path, token)}`, report);
          return null;
        }
        path = join(path, token);
        current = this.resolve(property);
      } else if (typeof current.additionalProperties === "object") {
        path += "{}";
        current = this.resolve(current.additionalProperties);
      } else {
        return null; // inside a free-form value: nothing more to name
      }
      this.add(report.fields, `${root}:${path}`, report);
    }
    return current ? { schema: current, path, depth: tokens.length } : null;
  }

  /**
   * Walks `value` at the field path `path` (`<definition>:<dotted.path>`). Paths of schema fields come from
   * `childPath`'s cache, so a list of a thousand similar items builds and hashes each path once, not per item.
   */
  private visit(
    schema: SwaggerSchema,
    value: unknown,
    path: string,
    depth: number,
    report: FieldReport,
    options: WalkOptions,
  ): void {
    if (depth > this.limits.maxDepth || ++this.visits > (this.limits.maxVisits ?? DEFAULT_MAX_VISITS)) {
      report.truncated = true;
      return;
    }
    const resolved = this.resolve(schema);
    if (!resolved || value === null || typeof value !== "object") return;
    if (Array.isArray(value)) {
      if (resolved.type !== "array" || !resolved.items) return;
      const itemPath = this.childPath(path, ITEMS);
      for (const item of value) {
        if (item !== null && typeof item === "object") {
          this.add(report.fields, itemPath, report);
          this.visit(resolved.items, item, itemPath, depth + 1, report, options);
        }
      }
      return;
    }
    if (resolved["x-kubernetes-preserve-unknown-fields"] || isFreeForm(resolved)) return;
    const properties = resolved.properties;
    const mapValues =
      typeof resolved.additionalProperties === "object" ? resolved.additionalProperties : null;
    for (const key in value as Record<string, unknown>) {
      if (!Object.hasOwn(value, key)) continue;
      if (options.strategicMergePatch && key.startsWith("$")) continue;
      if (report.fields.size >= this.limits.maxFields) {
        report.truncated = true;
        return;
      }
      const child = (value as Record<string, unknown>)[key];
      const property = own(properties, key);
      if (property) {
        const childPath = this.childPath(path, key);
        this.add(report.fields, childPath, report);
        this.visit(property, child, childPath, depth + 1, report, options);
      } else if (mapValues) {
        const childPath = this.childPath(path, VALUES);
        this.add(report.fields, childPath, report);
        this.visit(mapValues, child, childPath, depth + 1, report, options);
      } else if (resolved.additionalProperties !== true) {
        // Not cached: unknown keys come from bodies, and a hostile body could grow a cache without bound.
        this.add(report.unknown, joinPath(path, key), report);
      }
    }
  }

  /** The path of a schema field (or `[]`/`{}`) under `parent`, built once per spec and reused. */
  private childPath(parent: string, key: string): string {
    let children = this.paths.get(parent);
    if (!children) {
      if (this.paths.size >= MAX_CACHED_PATHS) this.paths.clear();
      children = new Map();
      this.paths.set(parent, children);
    }
    let path = children.get(key);
    if (path === undefined) {
      path = key === ITEMS ? `${parent}[]` : key === VALUES ? `${parent}{}` : joinPath(parent, key);
      children.set(key, path);
    }
    return path;
  }

  private add(set: Set<string>, path: string, report: FieldReport): void {
    if (report.fields.size + report.unknown.size >= this.limits.maxFields) report.truncated = true;
    else set.add(path);
  }

  /** Follows `$ref` and single-element `allOf` wrappers to the schema itself. */
  private resolve(schema: SwaggerSchema | undefined): SwaggerSchema | undefined {
    if (!schema) return undefined;
    if (this.resolvedSchemas.has(schema)) return this.resolvedSchemas.get(schema);
    const resolved = this.follow(schema);
    this.resolvedSchemas.set(schema, resolved);
    return resolved;
  }

  private follow(schema: SwaggerSchema): SwaggerSchema | undefined {
    let current: SwaggerSchema | undefined = schema;
    for (let hops = 0; current && hops < 16; hops++) {
      if (current.$ref) current = own(this.definitions, FieldSchema.definitionName(current.$ref));
      else if (current.allOf?.length === 1) current = current.allOf[0];
      else return current;
    }
    return current;
  }
}

/** The definition a schema refers to (through `$ref`, or a single-element `allOf` of one), else null. */
function refName(schema: SwaggerSchema): string | null {
  const ref = schema.$ref ?? (schema.allOf?.length === 1 ? schema.allOf[0]?.$ref : undefined);
  return ref ? FieldSchema.definitionName(ref) : null;
}

/** A schema of a scalar value: `walk` names no field inside it, nor array items of it. */
function isScalar(schema: SwaggerSchema): boolean {
  return (
    schema.type === "string" ||
    schema.type === "integer" ||
    schema.type === "number" ||
    schema.type === "boolean"
  );
}

/** A schema that says nothing about its fields: any field inside is fine (IntOrString, RawExtension, JSON). */
function isFreeForm(schema: SwaggerSchema): boolean {
  return (
    !schema.properties &&
    schema.additionalProperties === undefined &&
    !schema.items &&
    (schema.type === undefined || schema.type === "object" || schema.format === "int-or-string")
  );
}

/**
 * `record[key]` only when `key` is the record's own: a body's `constructor`, `toString` or `__proto__` must
 * not find Object.prototype's members and pass for a schema property.
 */
function own<T>(record: Record<string, T> | undefined, key: string): T | undefined {
  return record && Object.hasOwn(record, key) ? record[key] : undefined;
}

function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/** `key` under a full field path: the definition's own fields follow its `:` directly. */
function joinPath(parent: string, key: string): string {
  return parent.endsWith(":") ? `${parent}${key}` : `${parent}.${key}`;
}

/** Cache keys of array items and map values: no property name starts with a NUL. */
const ITEMS = "\u0000[]";
const VALUES = "\u0000{}";
/** Field paths `schemaFields` lists at most for one definition; the largest of 1.36 (Pod) has ~1,600. */
const MAX_SCHEMA_FIELDS = 50_000;
/** Parent paths kept in the path cache; a spec has far fewer, this only bounds pathological recursion. */
const MAX_CACHED_PATHS = 100_000;
