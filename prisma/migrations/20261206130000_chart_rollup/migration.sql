-- A chart's view over a time window read the day, hour and edge-minute rows of every source of the chart,
-- per endpoint (a chart of 50 pods: 52,500 rows for 6 hours at 100 M hits). ChartRollup keeps the hits per
-- `helm.sh/chart` label and endpoint, per minute, hour, UTC day and all time (`unit` "all", bucket the
-- epoch), so a chart's counts read one row per endpoint and bucket whatever the number of its pods.
-- Partitioned by unit, then minutes by UTC day and hours by UTC month like EndpointRollup: they age out
-- with the other minute and hour rollups (packages/db/src/retention.ts); days and all time are kept.

-- CreateTable
CREATE TABLE "ChartRollup" (
    "release" TEXT NOT NULL,
    "chart" TEXT NOT NULL,
    "unit" TEXT NOT NULL,
    "bucket" TIMESTAMPTZ(3) NOT NULL,
    "operationId" TEXT NOT NULL,
    "hits" BIGINT NOT NULL,
    "hits2xx" BIGINT NOT NULL,

    CONSTRAINT "ChartRollup_pkey" PRIMARY KEY ("release","chart","unit","bucket","operationId")
) PARTITION BY LIST ("unit");
CREATE TABLE "ChartRollup_minute" PARTITION OF "ChartRollup" FOR VALUES IN ('minute') PARTITION BY RANGE ("bucket");
CREATE TABLE "ChartRollup_hour" PARTITION OF "ChartRollup" FOR VALUES IN ('hour') PARTITION BY RANGE ("bucket");
CREATE TABLE "ChartRollup_day" PARTITION OF "ChartRollup" FOR VALUES IN ('day') WITH (fillfactor = 70);
CREATE TABLE "ChartRollup_all" PARTITION OF "ChartRollup" FOR VALUES IN ('all') WITH (fillfactor = 70);

-- Backfill from the per-source rollups of sources with a chart: each unit from the rows kept at that unit,
-- so every bucket equals what ingest would have written since.
SELECT apisnoop_ensure_partitions('ChartRollup_minute', 'day', min("minute"), max("minute") + INTERVAL '1 minute')
FROM "HitRollup";
SELECT apisnoop_ensure_partitions('ChartRollup_hour', 'month', min("hour"), max("hour") + INTERVAL '1 hour')
FROM "HitRollupHour";

INSERT INTO "ChartRollup" ("release", "chart", "unit", "bucket", "operationId", "hits", "hits2xx")
SELECT h."release", s."chart", 'minute', h."minute", h."operationId", sum(h."count"),
       coalesce(sum(h."count") FILTER (WHERE h."statusClass" = '2xx'), 0)
FROM "HitRollup" h JOIN "Source" s ON s."id" = h."sourceId" AND s."chart" IS NOT NULL
GROUP BY 1, 2, 4, 5;
INSERT INTO "ChartRollup" ("release", "chart", "unit", "bucket", "operationId", "hits", "hits2xx")
SELECT h."release", s."chart", 'hour', h."hour", h."operationId", sum(h."hits"), sum(h."hits2xx")
FROM "HitRollupHour" h JOIN "Source" s ON s."id" = h."sourceId" AND s."chart" IS NOT NULL
GROUP BY 1, 2, 4, 5;
INSERT INTO "ChartRollup" ("release", "chart", "unit", "bucket", "operationId", "hits", "hits2xx")
SELECT h."release", s."chart", 'day', h."day", h."operationId", sum(h."hits"), sum(h."hits2xx")
FROM "HitRollupDay" h JOIN "Source" s ON s."id" = h."sourceId" AND s."chart" IS NOT NULL
GROUP BY 1, 2, 4, 5;
INSERT INTO "ChartRollup" ("release", "chart", "unit", "bucket", "operationId", "hits", "hits2xx")
SELECT h."release", s."chart", 'all', to_timestamp(0), h."operationId", sum(h."hits"), sum(h."hits2xx")
FROM "HitTotal" h JOIN "Source" s ON s."id" = h."sourceId" AND s."chart" IS NOT NULL
GROUP BY 1, 2, 5;
