-- Time-bucketed rollups are partitioned by time, so that retention drops whole partitions (no DELETE, no
-- vacuum of dead rows): minute rollups (HitRollup, UnknownCall) in one partition per UTC day, hour rollups
-- (HitRollupHour, FieldCount) in one per UTC month; day rollups and all-time totals are kept for good and
-- stay plain tables. Partitions are named "<table>_YYYYMMDD" / "<table>_YYYYMM" and made ahead of time and
-- on demand by apisnoop_ensure_partitions (packages/db/src/retention.ts calls it); Prisma's schema cannot
-- say any of this, it is storage.
--
-- Two new rollups answer time windows over all sources without reading every source's rows:
-- EndpointRollup (hits per endpoint per minute, hour and day: ~900 rows a bucket whatever the number of
-- sources) and SourceRollup (hits and unknown calls per source per bucket: the source list and the
-- unknown-call count of a window). Each is partitioned by unit, and its minute and hour partitions again
-- by time as above. SourceTotal gains the all-time unknown calls, and RollupRetention says how long each
-- unit is kept.

-- Creates the missing partitions of `parent` (range-partitioned by time) that cover [from_time, to_time),
-- one per UTC `step` ('day' or 'month'), and returns how many it made. A plain table is created and then
-- attached: ATTACH PARTITION takes only a SHARE UPDATE EXCLUSIVE lock on the parent, so ingest and reads go
-- on meanwhile, where CREATE TABLE ... PARTITION OF would wait for them and then stop them.
CREATE FUNCTION apisnoop_ensure_partitions(parent TEXT, step TEXT, from_time TIMESTAMPTZ, to_time TIMESTAMPTZ)
RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
  start_at TIMESTAMPTZ := date_trunc(step, from_time, 'UTC');
  end_at TIMESTAMPTZ;
  name TEXT;
  made INTEGER := 0;
BEGIN
  IF step NOT IN ('day', 'month') THEN
    RAISE EXCEPTION 'apisnoop_ensure_partitions: step must be day or month, not %', step;
  END IF;
  -- Replicas making the same partition at once would collide on the catalog: one at a time.
  PERFORM pg_advisory_xact_lock(hashtext('apisnoop_ensure_partitions'));
  WHILE start_at < to_time LOOP
    end_at := start_at + ('1 ' || step)::INTERVAL;
    name := parent || '_' || to_char(start_at AT TIME ZONE 'UTC', CASE step WHEN 'day' THEN 'YYYYMMDD' ELSE 'YYYYMM' END);
    IF to_regclass(format('%I', name)) IS NULL THEN
      EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS) WITH (fillfactor = 70)', name, parent);
      EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, name, start_at, end_at);
      made := made + 1;
    END IF;
    start_at := end_at;
  END LOOP;
  RETURN made;
END $$;

-- HitRollup: by UTC day of "minute".
ALTER TABLE "HitRollup" RENAME TO "HitRollup_unpartitioned";
ALTER TABLE "HitRollup_unpartitioned" RENAME CONSTRAINT "HitRollup_pkey" TO "HitRollup_unpartitioned_pkey";
ALTER INDEX "HitRollup_release_minute_idx" RENAME TO "HitRollup_unpartitioned_release_minute_idx";
ALTER INDEX "HitRollup_release_sourceId_minute_idx" RENAME TO "HitRollup_unpartitioned_release_sourceId_minute_idx";
CREATE TABLE "HitRollup" (
    "release" TEXT NOT NULL,
    "operationId" TEXT NOT NULL,
    "sourceId" INTEGER NOT NULL,
    "method" TEXT NOT NULL,
    "statusClass" TEXT NOT NULL,
    "minute" TIMESTAMPTZ(3) NOT NULL,
    "count" BIGINT NOT NULL,
    "details" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "HitRollup_pkey" PRIMARY KEY ("release","operationId","sourceId","method","statusClass","minute")
) PARTITION BY RANGE ("minute");
CREATE INDEX "HitRollup_release_minute_idx" ON "HitRollup"("release", "minute");
CREATE INDEX "HitRollup_release_sourceId_minute_idx" ON "HitRollup"("release", "sourceId", "minute");
SELECT apisnoop_ensure_partitions('HitRollup', 'day', min("minute"), max("minute") + INTERVAL '1 minute')
FROM "HitRollup_unpartitioned";
INSERT INTO "HitRollup" ("release", "operationId", "sourceId", "method", "statusClass", "minute", "count", "details")
SELECT "release", "operationId", "sourceId", "method", "statusClass", "minute", "count", "details"
FROM "HitRollup_unpartitioned";
DROP TABLE "HitRollup_unpartitioned";

-- UnknownCall: by UTC day of "minute".
ALTER TABLE "UnknownCall" RENAME TO "UnknownCall_unpartitioned";
ALTER TABLE "UnknownCall_unpartitioned" RENAME CONSTRAINT "UnknownCall_pkey" TO "UnknownCall_unpartitioned_pkey";
ALTER INDEX "UnknownCall_minute_idx" RENAME TO "UnknownCall_unpartitioned_minute_idx";
CREATE TABLE "UnknownCall" (
    "release" TEXT NOT NULL,
    "sourceId" INTEGER NOT NULL,
    "method" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "statusClass" TEXT NOT NULL,
    "minute" TIMESTAMPTZ(3) NOT NULL,
    "count" BIGINT NOT NULL,

    CONSTRAINT "UnknownCall_pkey" PRIMARY KEY ("release","sourceId","method","path","reason","statusClass","minute")
) PARTITION BY RANGE ("minute");
CREATE INDEX "UnknownCall_minute_idx" ON "UnknownCall"("minute");
SELECT apisnoop_ensure_partitions('UnknownCall', 'day', min("minute"), max("minute") + INTERVAL '1 minute')
FROM "UnknownCall_unpartitioned";
INSERT INTO "UnknownCall" ("release", "sourceId", "method", "path", "reason", "statusClass", "minute", "count")
SELECT "release", "sourceId", "method", "path", "reason", "statusClass", "minute", "count"
FROM "UnknownCall_unpartitioned";
DROP TABLE "UnknownCall_unpartitioned";

-- HitRollupHour: by UTC month of "hour".
ALTER TABLE "HitRollupHour" RENAME TO "HitRollupHour_unpartitioned";
ALTER TABLE "HitRollupHour_unpartitioned" RENAME CONSTRAINT "HitRollupHour_pkey" TO "HitRollupHour_unpartitioned_pkey";
ALTER INDEX "HitRollupHour_release_hour_idx" RENAME TO "HitRollupHour_unpartitioned_release_hour_idx";
CREATE TABLE "HitRollupHour" (
    "release" TEXT NOT NULL,
    "operationId" TEXT NOT NULL,
    "sourceId" INTEGER NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "hits" BIGINT NOT NULL,
    "hits2xx" BIGINT NOT NULL,
    "firstSeen" TIMESTAMPTZ(3) NOT NULL,
    "lastSeen" TIMESTAMPTZ(3) NOT NULL,
    "first2xx" TIMESTAMPTZ(3),
    "last2xx" TIMESTAMPTZ(3),

    CONSTRAINT "HitRollupHour_pkey" PRIMARY KEY ("release","sourceId","hour","operationId")
) PARTITION BY RANGE ("hour");
CREATE INDEX "HitRollupHour_release_hour_idx" ON "HitRollupHour"("release", "hour");
SELECT apisnoop_ensure_partitions('HitRollupHour', 'month', min("hour"), max("hour") + INTERVAL '1 hour')
FROM "HitRollupHour_unpartitioned";
INSERT INTO "HitRollupHour" ("release", "operationId", "sourceId", "hour", "hits", "hits2xx", "firstSeen", "lastSeen", "first2xx", "last2xx")
SELECT "release", "operationId", "sourceId", "hour", "hits", "hits2xx", "firstSeen", "lastSeen", "first2xx", "last2xx"
FROM "HitRollupHour_unpartitioned";
DROP TABLE "HitRollupHour_unpartitioned";

-- FieldCount: by UTC month of "hour".
ALTER TABLE "FieldCount" RENAME TO "FieldCount_unpartitioned";
ALTER TABLE "FieldCount_unpartitioned" RENAME CONSTRAINT "FieldCount_pkey" TO "FieldCount_unpartitioned_pkey";
ALTER INDEX "FieldCount_release_sourceId_hour_idx" RENAME TO "FieldCount_unpartitioned_release_sourceId_hour_idx";
CREATE TABLE "FieldCount" (
    "release" TEXT NOT NULL,
    "operationId" TEXT NOT NULL,
    "sourceId" INTEGER NOT NULL,
    "direction" TEXT NOT NULL,
    "field" TEXT NOT NULL,
    "unknown" BOOLEAN NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "count" BIGINT NOT NULL,

    CONSTRAINT "FieldCount_pkey" PRIMARY KEY ("release","operationId","direction","field","sourceId","hour")
) PARTITION BY RANGE ("hour");
CREATE INDEX "FieldCount_release_sourceId_hour_idx" ON "FieldCount"("release", "sourceId", "hour");
SELECT apisnoop_ensure_partitions('FieldCount', 'month', min("hour"), max("hour") + INTERVAL '1 hour')
FROM "FieldCount_unpartitioned";
INSERT INTO "FieldCount" ("release", "operationId", "sourceId", "direction", "field", "unknown", "hour", "count")
SELECT "release", "operationId", "sourceId", "direction", "field", "unknown", "hour", "count"
FROM "FieldCount_unpartitioned";
DROP TABLE "FieldCount_unpartitioned";

-- CreateTable: EndpointRollup, by unit, then minutes by UTC day and hours by UTC month.
CREATE TABLE "EndpointRollup" (
    "release" TEXT NOT NULL,
    "operationId" TEXT NOT NULL,
    "unit" TEXT NOT NULL,
    "bucket" TIMESTAMPTZ(3) NOT NULL,
    "hits" BIGINT NOT NULL,
    "hits2xx" BIGINT NOT NULL,

    CONSTRAINT "EndpointRollup_pkey" PRIMARY KEY ("release","unit","bucket","operationId")
) PARTITION BY LIST ("unit");
CREATE TABLE "EndpointRollup_minute" PARTITION OF "EndpointRollup" FOR VALUES IN ('minute') PARTITION BY RANGE ("bucket");
CREATE TABLE "EndpointRollup_hour" PARTITION OF "EndpointRollup" FOR VALUES IN ('hour') PARTITION BY RANGE ("bucket");
CREATE TABLE "EndpointRollup_day" PARTITION OF "EndpointRollup" FOR VALUES IN ('day') WITH (fillfactor = 70);

-- CreateTable: SourceRollup, partitioned as EndpointRollup.
CREATE TABLE "SourceRollup" (
    "release" TEXT NOT NULL,
    "sourceId" INTEGER NOT NULL,
    "unit" TEXT NOT NULL,
    "bucket" TIMESTAMPTZ(3) NOT NULL,
    "hits" BIGINT NOT NULL,
    "hits2xx" BIGINT NOT NULL,
    "unknownCalls" BIGINT NOT NULL,

    CONSTRAINT "SourceRollup_pkey" PRIMARY KEY ("release","unit","bucket","sourceId")
) PARTITION BY LIST ("unit");
CREATE INDEX "SourceRollup_release_sourceId_unit_bucket_idx" ON "SourceRollup"("release", "sourceId", "unit", "bucket");
CREATE TABLE "SourceRollup_minute" PARTITION OF "SourceRollup" FOR VALUES IN ('minute') PARTITION BY RANGE ("bucket");
CREATE TABLE "SourceRollup_hour" PARTITION OF "SourceRollup" FOR VALUES IN ('hour') PARTITION BY RANGE ("bucket");
CREATE TABLE "SourceRollup_day" PARTITION OF "SourceRollup" FOR VALUES IN ('day') WITH (fillfactor = 70);

-- AlterTable
ALTER TABLE "SourceTotal" ADD COLUMN "unknownCalls" BIGINT NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "RollupRetention" (
    "unit" TEXT NOT NULL,
    "days" INTEGER NOT NULL,
    "keptFrom" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "RollupRetention_pkey" PRIMARY KEY ("unit")
);

-- No rows until a web app puts its policy in force (enforceRetention): until then nothing ages out.

-- Backfill EndpointRollup and SourceRollup from the per-source rollups and unknown calls.
SELECT apisnoop_ensure_partitions('EndpointRollup_minute', 'day', min("minute"), max("minute") + INTERVAL '1 minute'),
       apisnoop_ensure_partitions('SourceRollup_minute', 'day', min("minute"), max("minute") + INTERVAL '1 minute')
FROM (SELECT "minute" FROM "HitRollup" UNION ALL SELECT "minute" FROM "UnknownCall") m;
SELECT apisnoop_ensure_partitions('EndpointRollup_hour', 'month', min("hour"), max("hour") + INTERVAL '1 hour'),
       apisnoop_ensure_partitions('SourceRollup_hour', 'month', min("hour"), max("hour") + INTERVAL '1 hour')
FROM (SELECT "hour" FROM "HitRollupHour" UNION ALL SELECT date_trunc('hour', "minute", 'UTC') FROM "UnknownCall") h;

INSERT INTO "EndpointRollup" ("release", "operationId", "unit", "bucket", "hits", "hits2xx")
SELECT "release", "operationId", 'minute', "minute", sum("count"), coalesce(sum("count") FILTER (WHERE "statusClass" = '2xx'), 0)
FROM "HitRollup" GROUP BY "release", "operationId", "minute";
INSERT INTO "EndpointRollup" ("release", "operationId", "unit", "bucket", "hits", "hits2xx")
SELECT "release", "operationId", 'hour', "hour", sum("hits"), sum("hits2xx")
FROM "HitRollupHour" GROUP BY "release", "operationId", "hour";
INSERT INTO "EndpointRollup" ("release", "operationId", "unit", "bucket", "hits", "hits2xx")
SELECT "release", "operationId", 'day', "day", sum("hits"), sum("hits2xx")
FROM "HitRollupDay" GROUP BY "release", "operationId", "day";

-- The calls to the apiserver's own paths outside its spec are not unknown calls (packages/openapi).
INSERT INTO "SourceRollup" ("release", "sourceId", "unit", "bucket", "hits", "hits2xx", "unknownCalls")
SELECT "release", "sourceId", u.unit, u.bucket, sum(u.hits), sum(u.hits2xx), sum(u.unknown)
FROM (
  SELECT "release", "sourceId", 'minute' AS unit, "minute" AS bucket, "count" AS hits,
         CASE WHEN "statusClass" = '2xx' THEN "count" ELSE 0 END AS hits2xx, 0 AS unknown
  FROM "HitRollup"
  UNION ALL
  SELECT "release", "sourceId", 'hour', "hour", "hits", "hits2xx", 0 FROM "HitRollupHour"
  UNION ALL
  SELECT "release", "sourceId", 'day', "day", "hits", "hits2xx", 0 FROM "HitRollupDay"
  UNION ALL
  SELECT "release", "sourceId", b.unit, b.bucket, 0, 0, "count"
  FROM "UnknownCall",
       LATERAL (VALUES ('minute', "minute"), ('hour', date_trunc('hour', "minute", 'UTC')),
                       ('day', date_trunc('day', "minute", 'UTC'))) AS b(unit, bucket)
  WHERE "reason" <> 'apiserver path outside the spec'
) u
GROUP BY "release", "sourceId", u.unit, u.bucket;

INSERT INTO "SourceTotal" AS s ("release", "sourceId", "hits", "hits2xx", "endpoints", "endpoints2xx", "firstSeen", "lastSeen", "unknownCalls")
SELECT "release", "sourceId", 0, 0, 0, 0, min("minute"), max("minute"), sum("count")
FROM "UnknownCall" WHERE "reason" <> 'apiserver path outside the spec'
GROUP BY "release", "sourceId"
ON CONFLICT ("release", "sourceId") DO UPDATE SET
  "unknownCalls" = excluded."unknownCalls",
  "firstSeen" = LEAST(s."firstSeen", excluded."firstSeen"),
  "lastSeen" = GREATEST(s."lastSeen", excluded."lastSeen");
