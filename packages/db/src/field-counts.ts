/**
 * A batch's field uses: FieldCount per hour, FieldTotal per source, WorkloadFieldTotal and FieldUse per
 * workload, and which fields conformance tests' bodies carried.
 */
import { clipUtf8, MAX_KEY_TEXT_BYTES } from "./batch-limits";
import { workloadsById } from "./batch-sources";
import { type BatchWrite, sortedValues } from "./batch-write";
import { booleanArray, numberArray, textArray } from "./pg-arrays";

/** Adds a batch's field uses to every field table (see the module's comment); returns the FieldCount rows. */
export function upsertFields(write: BatchWrite): number {
  const { statements, release, batch, sourceIds, keep } = write;
  const folded = new Map<
    string,
    {
      operationId: string;
      sourceId: number;
      direction: string;
      field: string;
      unknown: boolean;
      hour: number;
      count: number;
    }
  >();
  for (const use of batch.fields) {
    if (!keep.hour(use.hour * 60)) continue;
    const sourceId = sourceIds[use.source] as number;
    const field = clipUtf8(use.field, MAX_KEY_TEXT_BYTES);
    const key = `${use.operationId}\u0000${use.direction}\u0000${field}\u0000${sourceId}\u0000${use.hour}`;
    const row = folded.get(key);
    if (row) {
      row.count += use.count;
      row.unknown ||= use.unknown;
    } else folded.set(key, { ...use, sourceId, field });
  }
  const rows = sortedValues(folded);
  if (rows.length === 0) return 0;
  statements.add(
    `INSERT INTO "FieldCount" AS f ("release", "operationId", "sourceId", "direction", "field", "unknown", "hour", "count")
     SELECT $1, t.op, t.source, t.direction, t.field, t.unknown, to_timestamp(t.hour * 3600), t.count
     FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::boolean[], $7::bigint[], $8::bigint[])
       AS t(op, source, direction, field, unknown, hour, count)
     ON CONFLICT ("release", "operationId", "direction", "field", "sourceId", "hour") DO UPDATE SET
       "count" = f."count" + excluded."count",
       "unknown" = f."unknown" OR excluded."unknown"`,
    release,
    textArray(rows.map((row) => row.operationId)),
    numberArray(rows.map((row) => row.sourceId)),
    textArray(rows.map((row) => row.direction)),
    textArray(rows.map((row) => row.field)),
    booleanArray(rows.map((row) => row.unknown)),
    numberArray(rows.map((row) => row.hour)),
    numberArray(rows.map((row) => row.count)),
  );
  // The all-time totals per source and per workload: the same rows without their hour, in key order (no
  // deadlocks); unknown fields are no workload's use of the schema.
  const workloads = workloadsById(batch, sourceIds);
  const totals = new Map<string, (typeof rows)[number]>();
  const byWorkload = new Map<string, (typeof rows)[number] & { workload: string }>();
  for (const row of rows) {
    const key = `${row.sourceId}\u0000${row.operationId}\u0000${row.direction}\u0000${row.field}`;
    const total = totals.get(key);
    if (total) {
      total.count += row.count;
      total.unknown ||= row.unknown;
    } else totals.set(key, { ...row });
    const workload = workloads.get(row.sourceId);
    if (row.unknown || !workload) continue;
    const workloadKey = `${row.operationId}\u0000${row.direction}\u0000${row.field}\u0000${workload}`;
    const workloadTotal = byWorkload.get(workloadKey);
    if (workloadTotal) workloadTotal.count += row.count;
    else byWorkload.set(workloadKey, { ...row, workload });
  }
  const totalRows = sortedValues(totals);
  statements.add(
    `INSERT INTO "FieldTotal" AS f ("release", "sourceId", "operationId", "direction", "field", "unknown", "count")
     SELECT $1, t.source, t.op, t.direction, t.field, t.unknown, t.count
     FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::bigint[])
       AS t(source, op, direction, field, unknown, count)
     ON CONFLICT ("release", "sourceId", "operationId", "direction", "field") DO UPDATE SET
       "count" = f."count" + excluded."count",
       "unknown" = f."unknown" OR excluded."unknown"`,
    release,
    numberArray(totalRows.map((row) => row.sourceId)),
    textArray(totalRows.map((row) => row.operationId)),
    textArray(totalRows.map((row) => row.direction)),
    textArray(totalRows.map((row) => row.field)),
    booleanArray(totalRows.map((row) => row.unknown)),
    numberArray(totalRows.map((row) => row.count)),
  );
  if (byWorkload.size > 0) {
    // Per workload, and per field the number of distinct workloads using it: a workload row inserted
    // (not updated: `xmax` is 0 only on a fresh row) is one more workload for its field.
    const workloadRows = sortedValues(byWorkload);
    statements.add(
      `WITH t AS (
         SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
           AS t(op, direction, field, workload, count)
       ),
       upserted AS (
         INSERT INTO "WorkloadFieldTotal" AS f ("release", "operationId", "direction", "field", "workload", "count")
         SELECT $1, t.op, t.direction, t.field, t.workload, t.count FROM t
         ON CONFLICT ("release", "operationId", "direction", "field", "workload") DO UPDATE SET
           "count" = f."count" + excluded."count"
         RETURNING f."operationId", f."direction", f."field", (f.xmax = 0) AS inserted
       ),
       added AS (
         SELECT n."operationId" AS op, n."direction", n."field", count(*) FILTER (WHERE n.inserted) AS workloads
         FROM upserted n GROUP BY 1, 2, 3
       ),
       sums AS (SELECT t.op, t.direction, t.field, sum(t.count) AS count FROM t GROUP BY 1, 2, 3)
       INSERT INTO "FieldUse" AS u ("release", "operationId", "direction", "field", "workloads", "count", "conformance")
       SELECT $1, s.op, s.direction, s.field, a.workloads, s.count, false
       FROM sums s JOIN added a ON a.op = s.op AND a.direction = s.direction AND a.field = s.field
       ORDER BY s.op, s.direction, s.field
       ON CONFLICT ("release", "operationId", "direction", "field") DO UPDATE SET
         "workloads" = u."workloads" + excluded."workloads",
         "count" = u."count" + excluded."count"`,
      release,
      textArray(workloadRows.map((row) => row.operationId)),
      textArray(workloadRows.map((row) => row.direction)),
      textArray(workloadRows.map((row) => row.field)),
      textArray(workloadRows.map((row) => row.workload)),
      numberArray(workloadRows.map((row) => row.count)),
    );
  }
  // Fields conformance tests' bodies carried: what field gaps leave out.
  const conformanceIds = new Set(
    batch.sources.flatMap((source, index) => (source.conformance ? [sourceIds[index] as number] : [])),
  );
  const carried = new Map<string, (typeof rows)[number]>();
  for (const row of rows) {
    if (row.unknown || !conformanceIds.has(row.sourceId)) continue;
    carried.set(`${row.operationId}\u0000${row.direction}\u0000${row.field}`, row);
  }
  if (carried.size > 0) {
    const carriedRows = sortedValues(carried);
    statements.add(
      `INSERT INTO "FieldUse" AS u ("release", "operationId", "direction", "field", "workloads", "count", "conformance")
       SELECT $1, t.op, t.direction, t.field, 0, 0, true
       FROM unnest($2::text[], $3::text[], $4::text[]) AS t(op, direction, field)
       ON CONFLICT ("release", "operationId", "direction", "field") DO UPDATE SET "conformance" = true`,
      release,
      textArray(carriedRows.map((row) => row.operationId)),
      textArray(carriedRows.map((row) => row.direction)),
      textArray(carriedRows.map((row) => row.field)),
    );
  }
  return rows.length;
}
