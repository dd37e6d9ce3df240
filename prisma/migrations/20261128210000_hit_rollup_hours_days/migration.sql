-- A time window used to aggregate every minute row it covers (a day of a busy cluster: millions). Hits are
-- now also kept per endpoint x source x UTC hour and x UTC day, in recordBatch's transaction, so a window
-- reads whole days, then whole hours, and only the minutes at its edges from HitRollup. Source-filtered
-- views read those edge minutes by source. Both tables are rebuilt here from HitRollup.

-- CreateTable
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
) WITH (fillfactor = 70);

-- CreateTable
CREATE TABLE "HitRollupDay" (
    "release" TEXT NOT NULL,
    "operationId" TEXT NOT NULL,
    "sourceId" INTEGER NOT NULL,
    "day" TIMESTAMPTZ(3) NOT NULL,
    "hits" BIGINT NOT NULL,
    "hits2xx" BIGINT NOT NULL,
    "firstSeen" TIMESTAMPTZ(3) NOT NULL,
    "lastSeen" TIMESTAMPTZ(3) NOT NULL,
    "first2xx" TIMESTAMPTZ(3),
    "last2xx" TIMESTAMPTZ(3),

    CONSTRAINT "HitRollupDay_pkey" PRIMARY KEY ("release","sourceId","day","operationId")
) WITH (fillfactor = 70);

-- CreateIndex
CREATE INDEX "HitRollup_release_sourceId_minute_idx" ON "HitRollup"("release", "sourceId", "minute");

-- CreateIndex
CREATE INDEX "HitRollupHour_release_hour_idx" ON "HitRollupHour"("release", "hour");

-- CreateIndex
CREATE INDEX "HitRollupDay_release_day_idx" ON "HitRollupDay"("release", "day");

-- Backfill (buckets are UTC hours and days, whatever the session's time zone)
INSERT INTO "HitRollupHour" ("release", "operationId", "sourceId", "hour", "hits", "hits2xx", "firstSeen", "lastSeen", "first2xx", "last2xx")
SELECT "release", "operationId", "sourceId", date_trunc('hour', "minute", 'UTC'), sum("count"),
       coalesce(sum("count") FILTER (WHERE "statusClass" = '2xx'), 0), min("minute"), max("minute"),
       min("minute") FILTER (WHERE "statusClass" = '2xx'), max("minute") FILTER (WHERE "statusClass" = '2xx')
FROM "HitRollup" GROUP BY "release", "operationId", "sourceId", date_trunc('hour', "minute", 'UTC');

INSERT INTO "HitRollupDay" ("release", "operationId", "sourceId", "day", "hits", "hits2xx", "firstSeen", "lastSeen", "first2xx", "last2xx")
SELECT "release", "operationId", "sourceId", date_trunc('day', "hour", 'UTC'), sum("hits"), sum("hits2xx"),
       min("firstSeen"), max("lastSeen"), min("first2xx"), max("last2xx")
FROM "HitRollupHour" GROUP BY "release", "operationId", "sourceId", date_trunc('day', "hour", 'UTC');
