-- HitTotal's key leads with the source: every read of it selects a release's sources (a chart, a user
-- agent), and with the endpoint second the key served those reads only by scanning the whole release's
-- index (or a separate source index, when statistics are fresh enough for the planner to pick it).
ALTER TABLE "HitTotal" DROP CONSTRAINT "HitTotal_pkey";
ALTER TABLE "HitTotal" ADD CONSTRAINT "HitTotal_pkey" PRIMARY KEY ("release", "sourceId", "operationId");
DROP INDEX "HitTotal_sourceId_idx";
