-- An endpoint's page and the unknown-call list read minute rows for any window, and every minute row kept
-- for `from=0` (30 days of a busy cluster: millions): the coarser rollups did not carry what they show.
-- Now they do, so both read whole days, whole hours and only the edge minutes, or all-time totals:
--  - HitRollupHour, HitRollupDay and HitTotal gain the hits by status class other than 2xx (2xx is
--    "hits2xx") and the detail counts ("watch", "dryRun", ...), JSON objects of counts like
--    HitRollup."details"; and an index by endpoint, as an endpoint's page reads one endpoint of every source.
--  - UnknownCallRollup keeps unknown calls per hour and UTC day (partitioned like EndpointRollup: hours by
--    UTC month, aging out with them; days kept for good), UnknownCallTotal all-time, each with its first
--    and last minute.
--  - FieldTotal gains an index by endpoint, for an endpoint's fields without a window.
-- Backfilled from the minute rows still kept: hits older than the minute retention keep their counts but
-- not their status classes other than 2xx nor their details.

-- AlterTable
ALTER TABLE "HitRollupHour" ADD COLUMN "otherStatusClasses" JSONB NOT NULL DEFAULT '{}',
                            ADD COLUMN "details" JSONB NOT NULL DEFAULT '{}';
ALTER TABLE "HitRollupDay" ADD COLUMN "otherStatusClasses" JSONB NOT NULL DEFAULT '{}',
                           ADD COLUMN "details" JSONB NOT NULL DEFAULT '{}';
ALTER TABLE "HitTotal" ADD COLUMN "otherStatusClasses" JSONB NOT NULL DEFAULT '{}',
                       ADD COLUMN "details" JSONB NOT NULL DEFAULT '{}';

-- CreateIndex
CREATE INDEX "HitRollupHour_release_operationId_hour_idx" ON "HitRollupHour"("release", "operationId", "hour");
CREATE INDEX "HitRollupDay_release_operationId_day_idx" ON "HitRollupDay"("release", "operationId", "day");
CREATE INDEX "HitTotal_release_operationId_idx" ON "HitTotal"("release", "operationId");
CREATE INDEX "FieldTotal_release_operationId_idx" ON "FieldTotal"("release", "operationId");

-- Backfill: status classes other than 2xx, and details, of every bucket and total from its minutes.
CREATE TEMPORARY TABLE minute_counts AS
SELECT "release", "operationId", "sourceId", "minute", kind, key, sum(n) AS n
FROM (
  SELECT "release", "operationId", "sourceId", "minute", 's' AS kind, "statusClass" AS key, "count"::numeric AS n
  FROM "HitRollup" WHERE "statusClass" <> '2xx'
  UNION ALL
  SELECT h."release", h."operationId", h."sourceId", h."minute", 'd', d.key, d.value::numeric
  FROM "HitRollup" h, jsonb_each_text(h."details") AS d(key, value) WHERE h."details" <> '{}'
) c
GROUP BY 1, 2, 3, 4, 5, 6;

UPDATE "HitRollupHour" b SET "otherStatusClasses" = coalesce(x.s, '{}'), "details" = coalesce(x.d, '{}')
FROM (
  SELECT "release", "operationId", "sourceId", bucket,
         jsonb_object_agg(key, n) FILTER (WHERE kind = 's') AS s, jsonb_object_agg(key, n) FILTER (WHERE kind = 'd') AS d
  FROM (SELECT "release", "operationId", "sourceId", date_trunc('hour', "minute", 'UTC') AS bucket, kind, key, sum(n) AS n
        FROM minute_counts GROUP BY 1, 2, 3, 4, 5, 6) k
  GROUP BY 1, 2, 3, 4
) x
WHERE b."release" = x."release" AND b."operationId" = x."operationId" AND b."sourceId" = x."sourceId" AND b."hour" = x.bucket;

UPDATE "HitRollupDay" b SET "otherStatusClasses" = coalesce(x.s, '{}'), "details" = coalesce(x.d, '{}')
FROM (
  SELECT "release", "operationId", "sourceId", bucket,
         jsonb_object_agg(key, n) FILTER (WHERE kind = 's') AS s, jsonb_object_agg(key, n) FILTER (WHERE kind = 'd') AS d
  FROM (SELECT "release", "operationId", "sourceId", date_trunc('day', "minute", 'UTC') AS bucket, kind, key, sum(n) AS n
        FROM minute_counts GROUP BY 1, 2, 3, 4, 5, 6) k
  GROUP BY 1, 2, 3, 4
) x
WHERE b."release" = x."release" AND b."operationId" = x."operationId" AND b."sourceId" = x."sourceId" AND b."day" = x.bucket;

UPDATE "HitTotal" b SET "otherStatusClasses" = coalesce(x.s, '{}'), "details" = coalesce(x.d, '{}')
FROM (
  SELECT "release", "operationId", "sourceId",
         jsonb_object_agg(key, n) FILTER (WHERE kind = 's') AS s, jsonb_object_agg(key, n) FILTER (WHERE kind = 'd') AS d
  FROM (SELECT "release", "operationId", "sourceId", kind, key, sum(n) AS n FROM minute_counts GROUP BY 1, 2, 3, 4, 5) k
  GROUP BY 1, 2, 3
) x
WHERE b."release" = x."release" AND b."operationId" = x."operationId" AND b."sourceId" = x."sourceId";

DROP TABLE minute_counts;

-- CreateTable: UnknownCallRollup, by unit, then hours by UTC month.
CREATE TABLE "UnknownCallRollup" (
    "release" TEXT NOT NULL,
    "sourceId" INTEGER NOT NULL,
    "method" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "statusClass" TEXT NOT NULL,
    "unit" TEXT NOT NULL,
    "bucket" TIMESTAMPTZ(3) NOT NULL,
    "count" BIGINT NOT NULL,
    "firstSeen" TIMESTAMPTZ(3) NOT NULL,
    "lastSeen" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "UnknownCallRollup_pkey" PRIMARY KEY ("release","unit","bucket","sourceId","method","path","reason","statusClass")
) PARTITION BY LIST ("unit");
CREATE TABLE "UnknownCallRollup_hour" PARTITION OF "UnknownCallRollup" FOR VALUES IN ('hour') PARTITION BY RANGE ("bucket");
CREATE TABLE "UnknownCallRollup_day" PARTITION OF "UnknownCallRollup" FOR VALUES IN ('day') WITH (fillfactor = 70);

-- CreateTable
CREATE TABLE "UnknownCallTotal" (
    "release" TEXT NOT NULL,
    "sourceId" INTEGER NOT NULL,
    "method" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "statusClass" TEXT NOT NULL,
    "count" BIGINT NOT NULL,
    "firstSeen" TIMESTAMPTZ(3) NOT NULL,
    "lastSeen" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "UnknownCallTotal_pkey" PRIMARY KEY ("release","sourceId","method","path","reason","statusClass")
) WITH (fillfactor = 70);

-- Backfill from the unknown calls' minutes.
SELECT apisnoop_ensure_partitions('UnknownCallRollup_hour', 'month', min("minute"), max("minute") + INTERVAL '1 minute')
FROM "UnknownCall";

INSERT INTO "UnknownCallRollup" ("release", "sourceId", "method", "path", "reason", "statusClass", "unit", "bucket", "count", "firstSeen", "lastSeen")
SELECT "release", "sourceId", "method", "path", "reason", "statusClass", b.unit, b.bucket, sum("count"), min("minute"), max("minute")
FROM "UnknownCall",
     LATERAL (VALUES ('hour', date_trunc('hour', "minute", 'UTC')), ('day', date_trunc('day', "minute", 'UTC'))) AS b(unit, bucket)
GROUP BY "release", "sourceId", "method", "path", "reason", "statusClass", b.unit, b.bucket;

INSERT INTO "UnknownCallTotal" ("release", "sourceId", "method", "path", "reason", "statusClass", "count", "firstSeen", "lastSeen")
SELECT "release", "sourceId", "method", "path", "reason", "statusClass", sum("count"), min("minute"), max("minute")
FROM "UnknownCall"
GROUP BY "release", "sourceId", "method", "path", "reason", "statusClass";
