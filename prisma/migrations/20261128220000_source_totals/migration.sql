-- The dashboard's source list (the coverage view's "who called") must not aggregate every endpoint x
-- source total on each request: totals per source are kept at ingest, like those per endpoint. Rebuilt
-- here from the per-pair totals, so existing data carries over.

-- CreateTable
CREATE TABLE "SourceTotal" (
    "release" TEXT NOT NULL,
    "sourceId" INTEGER NOT NULL,
    "hits" BIGINT NOT NULL,
    "hits2xx" BIGINT NOT NULL,
    "endpoints" INTEGER NOT NULL,
    "endpoints2xx" INTEGER NOT NULL,
    "firstSeen" TIMESTAMPTZ(3) NOT NULL,
    "lastSeen" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "SourceTotal_pkey" PRIMARY KEY ("release","sourceId")
) WITH (fillfactor = 50);

-- Backfill
INSERT INTO "SourceTotal" ("release", "sourceId", "hits", "hits2xx", "endpoints", "endpoints2xx", "firstSeen", "lastSeen")
SELECT "release", "sourceId", sum("hits"), sum("hits2xx"), count(*), count(*) FILTER (WHERE "hits2xx" > 0),
       min("firstSeen"), max("lastSeen")
FROM "HitTotal" GROUP BY "release", "sourceId";
