/**
 * A batch's all-time totals: per endpoint x source (HitTotal), per endpoint (EndpointTotal), per source
 * (SourceTotal) and per endpoint x workload (WorkloadHitTotal), and the one fold of hits into a total
 * that the hour and day rollups share.
 */
import { type BatchStatements, sortedValues } from "./batch-write";
import { numberArray, textArray } from "./pg-arrays";
import type { SourceUnknownTotal } from "./unknown-call-rows";

/**
 * Hits of one endpoint by one source in a batch, over all time or one hour or day bucket: counts and the
 * first and last minute, of all hits and of 2xx ones.
 */
export interface PairTotal {
  operationId: string;
  sourceId: number;
  hits: number;
  hits2xx: number;
  first: number;
  last: number;
  first2xx?: number;
  last2xx?: number;
  /** Hits by status class other than 2xx (2xx is `hits2xx`): what an endpoint's page breaks hits down by. */
  otherStatusClasses: Record<string, number>;
  /** The hits' detail counts ("watch", "dryRun", ...), as the minute rows keep them. */
  details: Record<string, number>;
}

/**
 * Adds `count` hits of `minute` with `statusClass` and `details` to the total under `key` (new for
 * `operationId` × `sourceId` when missing): the one fold behind the all-time totals and the hour and day
 * buckets.
 */
export function foldTotal(
  totals: Map<string, PairTotal>,
  key: string,
  operationId: string,
  sourceId: number,
  minute: number,
  count: number,
  statusClass: string,
  details: Readonly<Record<string, number>>,
): void {
  let total = totals.get(key);
  if (!total) {
    total = {
      operationId,
      sourceId,
      hits: 0,
      hits2xx: 0,
      first: minute,
      last: minute,
      otherStatusClasses: {},
      details: {},
    };
    totals.set(key, total);
  }
  total.hits += count;
  total.first = Math.min(total.first, minute);
  total.last = Math.max(total.last, minute);
  if (statusClass === "2xx") {
    total.hits2xx += count;
    total.first2xx = Math.min(total.first2xx ?? minute, minute);
    total.last2xx = Math.max(total.last2xx ?? minute, minute);
  } else {
    total.otherStatusClasses[statusClass] = (total.otherStatusClasses[statusClass] ?? 0) + count;
  }
  for (const name in details) total.details[name] = (total.details[name] ?? 0) + (details[name] as number);
}

/**
 * The SQL that adds a stored JSON object of counts (`stored`, e.g. `h."details"`) and an upserted one
 * (`added`): `added` is most often `{}` (all hits 2xx, no details), which costs no function call.
 */
export function addCountsSql(stored: string, added: string): string {
  return `CASE WHEN ${added} = '{}' THEN ${stored} ELSE apisnoop_add_counts(${stored}, ${added}) END`;
}

/**
 * Adds a batch's per endpoint x source totals to HitTotal and, in the same statement, its per-endpoint
 * totals to EndpointTotal and its per-source totals (with unknown calls) to SourceTotal. A pair counts as a
 * new source of its endpoint when its stored hits equal this batch's (nothing was there before); likewise
 * for 2xx. That test reads the row as upserted, so two concurrent batches with the same new pair count it
 * once.
 */
export function upsertTotals(
  statements: BatchStatements,
  release: string,
  pairs: PairTotal[],
  unknown: SourceUnknownTotal[],
): void {
  if (pairs.length === 0 && unknown.length === 0) return;
  statements.add(
    `WITH input AS (
       SELECT * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[],
                            $14::jsonb[], $15::jsonb[])
         AS t(op, source, hits, hits2xx, first, last, first2xx, last2xx, others, details)
     ),
     unknown AS (
       SELECT * FROM unnest($10::int[], $11::bigint[], $12::bigint[], $13::bigint[]) AS u(source, calls, first, last)
     ),
     pairs AS (
       INSERT INTO "HitTotal" AS h ("release", "operationId", "sourceId", "hits", "hits2xx", "firstSeen", "lastSeen", "first2xx", "last2xx",
                                    "otherStatusClasses", "details")
       SELECT $1, i.op, i.source, i.hits, i.hits2xx, to_timestamp(i.first * 60), to_timestamp(i.last * 60),
              to_timestamp(i.first2xx * 60), to_timestamp(i.last2xx * 60), i.others, i.details
       FROM input i
       ON CONFLICT ("release", "operationId", "sourceId") DO UPDATE SET
         "hits" = h."hits" + excluded."hits",
         "hits2xx" = h."hits2xx" + excluded."hits2xx",
         "firstSeen" = LEAST(h."firstSeen", excluded."firstSeen"),
         "lastSeen" = GREATEST(h."lastSeen", excluded."lastSeen"),
         "first2xx" = LEAST(h."first2xx", excluded."first2xx"),
         "last2xx" = GREATEST(h."last2xx", excluded."last2xx"),
         "otherStatusClasses" = ${addCountsSql(`h."otherStatusClasses"`, `excluded."otherStatusClasses"`)},
         "details" = ${addCountsSql(`h."details"`, `excluded."details"`)}
       RETURNING h."operationId", h."sourceId", h."hits", h."hits2xx"
     ),
     endpoints AS (
       SELECT i.op, sum(i.hits) AS hits, sum(i.hits2xx) AS hits2xx,
              count(*) FILTER (WHERE p."hits" = i.hits) AS sources,
              count(*) FILTER (WHERE i.hits2xx > 0 AND p."hits2xx" = i.hits2xx) AS sources2xx,
              min(i.first) AS first, max(i.last) AS last, min(i.first2xx) AS first2xx, max(i.last2xx) AS last2xx
       FROM input i JOIN pairs p ON p."operationId" = i.op AND p."sourceId" = i.source
       GROUP BY i.op
     ),
     sources AS (
       INSERT INTO "SourceTotal" AS s ("release", "sourceId", "hits", "hits2xx", "endpoints", "endpoints2xx",
                                       "firstSeen", "lastSeen", "unknownCalls")
       SELECT $1, x.source, sum(x.hits), sum(x.hits2xx), sum(x.endpoints), sum(x.endpoints2xx),
              to_timestamp(coalesce(min(x.first), min(x.call_first)) * 60),
              to_timestamp(coalesce(max(x.last), max(x.call_last)) * 60), sum(x.calls)
       FROM (
         SELECT i.source, i.hits, i.hits2xx, (p."hits" = i.hits)::int AS endpoints,
                (i.hits2xx > 0 AND p."hits2xx" = i.hits2xx)::int AS endpoints2xx, i.first, i.last,
                0 AS calls, NULL::bigint AS call_first, NULL::bigint AS call_last
         FROM input i JOIN pairs p ON p."operationId" = i.op AND p."sourceId" = i.source
         UNION ALL
         SELECT u.source, 0, 0, 0, 0, NULL, NULL, u.calls, u.first, u.last FROM unknown u
       ) x
       GROUP BY x.source ORDER BY x.source
       -- First and last seen are those of hits; a source with unknown calls only has theirs until it hits.
       ON CONFLICT ("release", "sourceId") DO UPDATE SET
         "hits" = s."hits" + excluded."hits",
         "hits2xx" = s."hits2xx" + excluded."hits2xx",
         "endpoints" = s."endpoints" + excluded."endpoints",
         "endpoints2xx" = s."endpoints2xx" + excluded."endpoints2xx",
         "firstSeen" = CASE WHEN excluded."hits" = 0 THEN s."firstSeen" WHEN s."hits" = 0 THEN excluded."firstSeen"
                            ELSE LEAST(s."firstSeen", excluded."firstSeen") END,
         "lastSeen" = CASE WHEN excluded."hits" = 0 THEN s."lastSeen" WHEN s."hits" = 0 THEN excluded."lastSeen"
                           ELSE GREATEST(s."lastSeen", excluded."lastSeen") END,
         "unknownCalls" = s."unknownCalls" + excluded."unknownCalls"
     )
     INSERT INTO "EndpointTotal" AS e ("release", "operationId", "hits", "hits2xx", "sources", "sources2xx",
                                       "firstSeen", "lastSeen", "first2xx", "last2xx")
     SELECT $1, n.op, n.hits, n.hits2xx, n.sources, n.sources2xx, to_timestamp(n.first * 60), to_timestamp(n.last * 60),
            to_timestamp(n.first2xx * 60), to_timestamp(n.last2xx * 60)
     FROM endpoints n ORDER BY n.op COLLATE "C"
     ON CONFLICT ("release", "operationId") DO UPDATE SET
       "hits" = e."hits" + excluded."hits",
       "hits2xx" = e."hits2xx" + excluded."hits2xx",
       "sources" = e."sources" + excluded."sources",
       "sources2xx" = e."sources2xx" + excluded."sources2xx",
       "firstSeen" = LEAST(e."firstSeen", excluded."firstSeen"),
       "lastSeen" = GREATEST(e."lastSeen", excluded."lastSeen"),
       "first2xx" = LEAST(e."first2xx", excluded."first2xx"),
       "last2xx" = GREATEST(e."last2xx", excluded."last2xx")`,
    release,
    textArray(pairs.map((pair) => pair.operationId)),
    numberArray(pairs.map((pair) => pair.sourceId)),
    numberArray(pairs.map((pair) => pair.hits)),
    numberArray(pairs.map((pair) => pair.hits2xx)),
    numberArray(pairs.map((pair) => pair.first)),
    numberArray(pairs.map((pair) => pair.last)),
    numberArray(pairs.map((pair) => pair.first2xx ?? null)),
    numberArray(pairs.map((pair) => pair.last2xx ?? null)),
    numberArray(unknown.map((total) => total.sourceId)),
    numberArray(unknown.map((total) => total.calls)),
    numberArray(unknown.map((total) => total.first)),
    numberArray(unknown.map((total) => total.last)),
    textArray(pairs.map((pair) => JSON.stringify(pair.otherStatusClasses))),
    textArray(pairs.map((pair) => JSON.stringify(pair.details))),
  );
}

/** Adds a batch's endpoint x source totals of workloads to the totals per endpoint x workload. */
export function upsertWorkloadHits(
  statements: BatchStatements,
  release: string,
  totals: Iterable<PairTotal>,
  workloads: Map<number, string | null>,
): void {
  const byWorkload = new Map<
    string,
    { operationId: string; workload: string; hits: number; hits2xx: number }
  >();
  for (const total of totals) {
    const workload = workloads.get(total.sourceId);
    if (!workload) continue;
    const key = `${total.operationId}\u0000${workload}`;
    const row = byWorkload.get(key);
    if (row) {
      row.hits += total.hits;
      row.hits2xx += total.hits2xx;
    } else
      byWorkload.set(key, {
        operationId: total.operationId,
        workload,
        hits: total.hits,
        hits2xx: total.hits2xx,
      });
  }
  if (byWorkload.size === 0) return;
  const rows = sortedValues(byWorkload);
  statements.add(
    `INSERT INTO "WorkloadHitTotal" AS w ("release", "operationId", "workload", "hits", "hits2xx")
     SELECT $1, t.op, t.workload, t.hits, t.hits2xx
     FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS t(op, workload, hits, hits2xx)
     ON CONFLICT ("release", "operationId", "workload") DO UPDATE SET
       "hits" = w."hits" + excluded."hits",
       "hits2xx" = w."hits2xx" + excluded."hits2xx"`,
    release,
    textArray(rows.map((row) => row.operationId)),
    textArray(rows.map((row) => row.workload)),
    numberArray(rows.map((row) => row.hits)),
    numberArray(rows.map((row) => row.hits2xx)),
  );
}
