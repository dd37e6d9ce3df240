-- What workloads use that conformance tests do not (the priorities view) ranks endpoints and body fields
-- by the workloads that use them. Each source now carries its workload (written at ingest by protocol
-- `workloadOf`; backfilled here with the same rule), and all-time field totals are kept at ingest per
-- source (like HitTotal) and per workload, so that view never sums every hour of FieldCount, and its
-- default view reads one row per workload x field whatever the churn of pods. Backfilled from the hourly
-- rows, so existing data carries over. Hits are kept per workload too, for the same reason.

-- AlterTable
ALTER TABLE "Source" ADD COLUMN "workload" TEXT;

-- Backfill: protocol `workloadOf` as of this migration.
UPDATE "Source" SET "workload" = CASE
    WHEN "e2eTest" IS NOT NULL OR starts_with("userAgent", 'e2e.test') THEN NULL
    WHEN "chart" IS NOT NULL AND "chart" <> '' THEN 'chart ' || coalesce(substring("chart" FROM '^(.+)-v?[0-9]+\.[0-9]+\.[0-9]+(?:[-+].*)?$'), "chart")
    WHEN "namespace" IS NOT NULL AND "namespace" <> '' AND "serviceAccount" IS NOT NULL AND "serviceAccount" <> ''
      THEN 'sa ' || "namespace" || '/' || "serviceAccount"
    WHEN "namespace" IS NOT NULL AND "namespace" <> '' THEN 'namespace ' || "namespace"
    ELSE coalesce(substring("userAgent" FROM '^[^/ ]+'), '(no user agent)')
  END;

-- CreateTable
CREATE TABLE "WorkloadFieldTotal" (
    "release" TEXT NOT NULL,
    "operationId" TEXT NOT NULL,
    "direction" TEXT NOT NULL,
    "field" TEXT NOT NULL,
    "workload" TEXT NOT NULL,
    "count" BIGINT NOT NULL,

    CONSTRAINT "WorkloadFieldTotal_pkey" PRIMARY KEY ("release","operationId","direction","field","workload")
) WITH (fillfactor = 70);

-- CreateTable
CREATE TABLE "FieldUse" (
    "release" TEXT NOT NULL,
    "operationId" TEXT NOT NULL,
    "direction" TEXT NOT NULL,
    "field" TEXT NOT NULL,
    "workloads" INTEGER NOT NULL,
    "count" BIGINT NOT NULL,
    "conformance" BOOLEAN NOT NULL,

    CONSTRAINT "FieldUse_pkey" PRIMARY KEY ("release","operationId","direction","field")
) WITH (fillfactor = 70);

-- CreateTable
CREATE TABLE "WorkloadHitTotal" (
    "release" TEXT NOT NULL,
    "operationId" TEXT NOT NULL,
    "workload" TEXT NOT NULL,
    "hits" BIGINT NOT NULL,
    "hits2xx" BIGINT NOT NULL,

    CONSTRAINT "WorkloadHitTotal_pkey" PRIMARY KEY ("release","operationId","workload")
) WITH (fillfactor = 70);

-- CreateTable
CREATE TABLE "FieldTotal" (
    "release" TEXT NOT NULL,
    "sourceId" INTEGER NOT NULL,
    "operationId" TEXT NOT NULL,
    "direction" TEXT NOT NULL,
    "field" TEXT NOT NULL,
    "unknown" BOOLEAN NOT NULL,
    "count" BIGINT NOT NULL,

    CONSTRAINT "FieldTotal_pkey" PRIMARY KEY ("release","sourceId","operationId","direction","field")
) WITH (fillfactor = 70);

-- Backfill
INSERT INTO "FieldTotal" ("release", "sourceId", "operationId", "direction", "field", "unknown", "count")
SELECT "release", "sourceId", "operationId", "direction", "field", bool_or("unknown"), sum("count")
FROM "FieldCount" GROUP BY "release", "sourceId", "operationId", "direction", "field";

INSERT INTO "WorkloadFieldTotal" ("release", "operationId", "direction", "field", "workload", "count")
SELECT f."release", f."operationId", f."direction", f."field", s."workload", sum(f."count")
FROM "FieldTotal" f JOIN "Source" s ON s."id" = f."sourceId"
WHERE s."workload" IS NOT NULL AND NOT f."unknown"
GROUP BY f."release", f."operationId", f."direction", f."field", s."workload";

INSERT INTO "FieldUse" ("release", "operationId", "direction", "field", "workloads", "count", "conformance")
SELECT "release", "operationId", "direction", "field", count(*), sum("count"), false
FROM "WorkloadFieldTotal" GROUP BY "release", "operationId", "direction", "field";

INSERT INTO "FieldUse" AS u ("release", "operationId", "direction", "field", "workloads", "count", "conformance")
SELECT DISTINCT f."release", f."operationId", f."direction", f."field", 0, 0, true
FROM "FieldTotal" f JOIN "Source" s ON s."id" = f."sourceId"
WHERE s."conformance" AND NOT f."unknown"
ON CONFLICT ("release", "operationId", "direction", "field") DO UPDATE SET "conformance" = true;

INSERT INTO "WorkloadHitTotal" ("release", "operationId", "workload", "hits", "hits2xx")
SELECT h."release", h."operationId", s."workload", sum(h."hits"), sum(h."hits2xx")
FROM "HitTotal" h JOIN "Source" s ON s."id" = h."sourceId"
WHERE s."workload" IS NOT NULL
GROUP BY h."release", h."operationId", s."workload";

-- A source's hours of a release: windowed field views read them by source (the key leads with the endpoint).
DROP INDEX "FieldCount_sourceId_idx";
CREATE INDEX "FieldCount_release_sourceId_hour_idx" ON "FieldCount"("release", "sourceId", "hour");
