-- The dashboard's default view (coverage of a release, no filters) must not aggregate per-source rows on
-- every request: totals per endpoint are kept at ingest. Per-source totals become one row per endpoint x
-- source (hits and 2xx hits side by side), which is also what source-filtered views read. Both are rebuilt
-- here from the per-minute rollups, so existing data carries over.

-- DropTable
DROP TABLE "HitTotal";

-- CreateTable
CREATE TABLE "HitTotal" (
    "release" TEXT NOT NULL,
    "operationId" TEXT NOT NULL,
    "sourceId" INTEGER NOT NULL,
    "hits" BIGINT NOT NULL,
    "hits2xx" BIGINT NOT NULL,
    "firstSeen" TIMESTAMPTZ(3) NOT NULL,
    "lastSeen" TIMESTAMPTZ(3) NOT NULL,
    "first2xx" TIMESTAMPTZ(3),
    "last2xx" TIMESTAMPTZ(3),

    CONSTRAINT "HitTotal_pkey" PRIMARY KEY ("release","operationId","sourceId")
) WITH (fillfactor = 70);

-- CreateTable
CREATE TABLE "EndpointTotal" (
    "release" TEXT NOT NULL,
    "operationId" TEXT NOT NULL,
    "hits" BIGINT NOT NULL,
    "hits2xx" BIGINT NOT NULL,
    "sources" INTEGER NOT NULL,
    "sources2xx" INTEGER NOT NULL,
    "firstSeen" TIMESTAMPTZ(3) NOT NULL,
    "lastSeen" TIMESTAMPTZ(3) NOT NULL,
    "first2xx" TIMESTAMPTZ(3),
    "last2xx" TIMESTAMPTZ(3),

    CONSTRAINT "EndpointTotal_pkey" PRIMARY KEY ("release","operationId")
) WITH (fillfactor = 50);

-- CreateIndex
CREATE INDEX "HitTotal_sourceId_idx" ON "HitTotal"("sourceId");

-- Backfill
INSERT INTO "HitTotal" ("release", "operationId", "sourceId", "hits", "hits2xx", "firstSeen", "lastSeen", "first2xx", "last2xx")
SELECT "release", "operationId", "sourceId", sum("count"), coalesce(sum("count") FILTER (WHERE "statusClass" = '2xx'), 0),
       min("minute"), max("minute"), min("minute") FILTER (WHERE "statusClass" = '2xx'),
       max("minute") FILTER (WHERE "statusClass" = '2xx')
FROM "HitRollup" GROUP BY "release", "operationId", "sourceId";

INSERT INTO "EndpointTotal" ("release", "operationId", "hits", "hits2xx", "sources", "sources2xx", "firstSeen", "lastSeen", "first2xx", "last2xx")
SELECT "release", "operationId", sum("hits"), sum("hits2xx"), count(*), count(*) FILTER (WHERE "hits2xx" > 0),
       min("firstSeen"), max("lastSeen"), min("first2xx"), max("last2xx")
FROM "HitTotal" GROUP BY "release", "operationId";
