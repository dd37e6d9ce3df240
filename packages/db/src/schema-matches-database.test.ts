import { readFileSync } from "node:fs";
import path from "node:path";
import { getDMMF } from "@prisma/internals";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "./database";
import { MIGRATIONS_DIR } from "./migrate";
import { openTestDatabase } from "./testing";

/**
 * The migrations are hand-written SQL (the schema engine cannot be downloaded here), so this test is what
 * keeps them and prisma/schema.prisma in step: every model is a table, every field a column of the type
 * and nullability Prisma expects, and every id, unique, index and relation exists under Prisma's name.
 * A partitioned table counts as the model's table; its partitions are storage, like fillfactor.
 */

type Dmmf = Awaited<ReturnType<typeof getDMMF>>;
type Model = Dmmf["datamodel"]["models"][number];
type Field = Model["fields"][number];

const SCHEMA = path.join(MIGRATIONS_DIR, "..", "schema.prisma");

let db: Database;
let client: pg.Client;
let dmmf: Dmmf;

beforeAll(async () => {
  dmmf = await getDMMF({ datamodel: readFileSync(SCHEMA, "utf8") });
  db = await openTestDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await db?.stop();
});

const tableOf = (model: Model) => model.dbName ?? model.name;
const columnOf = (model: Model, fieldName: string) => {
  const field = model.fields.find((candidate) => candidate.name === fieldName);
  return field?.dbName ?? fieldName;
};

/** The column type Prisma's PostgreSQL connector gives a scalar field, as `format_type` prints it. */
function expectedType(field: Field): string {
  const native = field.nativeType as [string, string[]] | null | undefined;
  if (native) {
    const [name, args] = native;
    const precision = args[0];
    switch (name) {
      case "Timestamptz":
        return `timestamp(${precision ?? 3}) with time zone`;
      case "Timestamp":
        return `timestamp(${precision ?? 3}) without time zone`;
      case "Uuid":
        return "uuid";
      case "VarChar":
        return precision ? `character varying(${precision})` : "character varying";
      case "Text":
        return "text";
      default:
        throw new Error(`native type ${name} of ${field.name}: teach this test its PostgreSQL name`);
    }
  }
  const types: Record<string, string> = {
    String: "text",
    Int: "integer",
    BigInt: "bigint",
    Boolean: "boolean",
    DateTime: "timestamp(3) without time zone",
    Json: "jsonb",
    Float: "double precision",
    Decimal: "numeric(65,30)",
    Bytes: "bytea",
  };
  const type = types[field.type];
  if (!type) throw new Error(`type ${field.type} of ${field.name}: teach this test its PostgreSQL name`);
  return type;
}

interface ColumnRow {
  table: string;
  column: string;
  type: string;
  nullable: boolean;
  default: string | null;
}

interface IndexRow {
  table: string;
  name: string;
  columns: string[];
  primary: boolean;
  unique: boolean;
}

interface ForeignKeyRow {
  name: string;
  table: string;
  references: string;
  columns: string[];
  referencedColumns: string[];
  onDelete: string;
  onUpdate: string;
}

async function columns(): Promise<ColumnRow[]> {
  const result = await client.query<ColumnRow>(`
    SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
           NOT a.attnotnull AS nullable, pg_get_expr(d.adbin, d.adrelid) AS default
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
      AND c.relname <> '_prisma_migrations'`);
  return result.rows;
}

async function indexes(): Promise<IndexRow[]> {
  const result = await client.query<IndexRow>(`
    SELECT t.relname AS table, i.relname AS name, x.indisprimary AS primary, x.indisunique AS unique,
           array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, position)
                 JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.position)::text[]
             AS columns
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = 'public' AND NOT t.relispartition AND t.relname <> '_prisma_migrations'`);
  return result.rows;
}

describe("the migrated database matches prisma/schema.prisma", () => {
  it("has one table per model and nothing else", async () => {
    const tables = new Set((await columns()).map((row) => row.table));
    expect([...tables].sort()).toEqual(dmmf.datamodel.models.map(tableOf).sort());
  });

  it("has one column per scalar field, of Prisma's type and nullability, with a default where it has one", async () => {
    const rows = await columns();
    for (const model of dmmf.datamodel.models) {
      const actual = rows.filter((row) => row.table === tableOf(model));
      const scalars = model.fields.filter((field) => field.kind === "scalar" || field.kind === "enum");
      expect(actual.map((row) => row.column).sort(), `columns of ${model.name}`).toEqual(
        scalars.map((field) => field.dbName ?? field.name).sort(),
      );
      for (const field of scalars) {
        const column = actual.find((row) => row.column === (field.dbName ?? field.name)) as ColumnRow;
        const where = `${model.name}.${field.name}`;
        expect(column.type, `type of ${where}`).toBe(expectedType(field));
        expect(column.nullable, `nullability of ${where}`).toBe(!field.isRequired);
        expect(column.default !== null, `default of ${where}`).toBe(field.hasDefaultValue);
        const dmmfDefault = field.default as { name?: string } | undefined;
        if (dmmfDefault?.name === "autoincrement") expect(column.default, where).toMatch(/^nextval\(/);
        if (dmmfDefault?.name === "now") expect(column.default, where).toBe("CURRENT_TIMESTAMP");
      }
    }
  });

  it("has every id, unique and index under Prisma's name, and no other", async () => {
    const suffix = { id: "pkey", unique: "key", normal: "idx", fulltext: "idx" } as const;
    const expected = dmmf.datamodel.indexes.map((index) => {
      const model = dmmf.datamodel.models.find((candidate) => candidate.name === index.model) as Model;
      const columnNames = index.fields.map((field) => columnOf(model, field.name));
      const name =
        index.dbName ??
        (index.type === "id"
          ? `${tableOf(model)}_pkey`
          : `${tableOf(model)}_${columnNames.join("_")}_${suffix[index.type]}`);
      return {
        table: tableOf(model),
        name,
        columns: columnNames,
        primary: index.type === "id",
        unique: index.type === "id" || index.type === "unique",
      };
    });
    const sort = (rows: IndexRow[]) => [...rows].sort((a, b) => a.name.localeCompare(b.name));
    expect(sort(await indexes())).toEqual(sort(expected));
  });

  it("has every relation as a foreign key with Prisma's name and referential actions", async () => {
    const result = await client.query<ForeignKeyRow>(`
      SELECT con.conname AS name, t.relname AS table, r.relname AS references,
             array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, position)
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.position)::text[]
               AS columns,
             array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, position)
                   JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.position)::text[]
               AS "referencedColumns",
             con.confdeltype AS "onDelete", con.confupdtype AS "onUpdate"
      FROM pg_constraint con
      JOIN pg_class t ON t.oid = con.conrelid
      JOIN pg_class r ON r.oid = con.confrelid
      JOIN pg_namespace n ON n.oid = con.connamespace
      WHERE n.nspname = 'public' AND con.contype = 'f'`);
    // pg_constraint's action codes.
    const actions: Record<string, string> = {
      Cascade: "c",
      Restrict: "r",
      SetNull: "n",
      NoAction: "a",
      SetDefault: "d",
    };
    const expected = dmmf.datamodel.models.flatMap((model) =>
      model.fields
        .filter((field) => field.kind === "object" && (field.relationFromFields?.length ?? 0) > 0)
        .map((field): ForeignKeyRow => {
          const target = dmmf.datamodel.models.find((candidate) => candidate.name === field.type) as Model;
          const columns = (field.relationFromFields ?? []).map((name) => columnOf(model, name));
          return {
            name: `${tableOf(model)}_${columns.join("_")}_fkey`,
            table: tableOf(model),
            references: tableOf(target),
            columns,
            referencedColumns: (field.relationToFields ?? []).map((name) => columnOf(target, name)),
            // Prisma's defaults: ON DELETE RESTRICT (SET NULL when optional), ON UPDATE CASCADE.
            onDelete: actions[
              field.relationOnDelete ?? (field.isRequired ? "Restrict" : "SetNull")
            ] as string,
            onUpdate: "c",
          };
        }),
    );
    const sort = (rows: ForeignKeyRow[]) => [...rows].sort((a, b) => a.name.localeCompare(b.name));
    expect(sort(result.rows)).toEqual(sort(expected));
  });
});
