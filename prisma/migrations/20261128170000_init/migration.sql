-- CreateTable
CREATE TABLE "Release" (
    "name" TEXT NOT NULL,
    "origin" TEXT NOT NULL,
    "loadedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "isDefault" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "Release_pkey" PRIMARY KEY ("name")
);

-- CreateTable
CREATE TABLE "Endpoint" (
    "release" TEXT NOT NULL,
    "operationId" TEXT NOT NULL,
    "method" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "level" TEXT NOT NULL,
    "category" TEXT NOT NULL,
    "group" TEXT,
    "version" TEXT,
    "kind" TEXT,
    "action" TEXT,
    "description" TEXT,
    "deprecated" BOOLEAN NOT NULL,
    "conformanceEligible" BOOLEAN NOT NULL,
    "ineligibleReason" TEXT,
    "watchOperation" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "Endpoint_pkey" PRIMARY KEY ("release","operationId")
);

-- CreateTable
CREATE TABLE "Source" (
    "id" SERIAL NOT NULL,
    "key" TEXT NOT NULL,
    "userAgent" TEXT NOT NULL,
    "e2eTest" TEXT,
    "conformance" BOOLEAN NOT NULL,
    "name" TEXT,
    "namespace" TEXT,
    "pod" TEXT,
    "serviceAccount" TEXT,
    "chart" TEXT,
    "helmRelease" TEXT,
    "managedBy" TEXT,
    "firstSeen" TIMESTAMPTZ(3) NOT NULL,
    "lastSeen" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Source_pkey" PRIMARY KEY ("id")
);

-- CreateTable
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
);

-- CreateTable
CREATE TABLE "HitTotal" (
    "release" TEXT NOT NULL,
    "operationId" TEXT NOT NULL,
    "sourceId" INTEGER NOT NULL,
    "statusClass" TEXT NOT NULL,
    "count" BIGINT NOT NULL,
    "firstSeen" TIMESTAMPTZ(3) NOT NULL,
    "lastSeen" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "HitTotal_pkey" PRIMARY KEY ("release","operationId","sourceId","statusClass")
);

-- CreateTable
CREATE TABLE "UnknownCall" (
    "sourceId" INTEGER NOT NULL,
    "method" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "reason" TEXT NOT NULL,
    "statusClass" TEXT NOT NULL,
    "minute" TIMESTAMPTZ(3) NOT NULL,
    "count" BIGINT NOT NULL,

    CONSTRAINT "UnknownCall_pkey" PRIMARY KEY ("sourceId","method","path","reason","statusClass","minute")
);

-- CreateTable
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
);

-- CreateTable
CREATE TABLE "IngestBatch" (
    "batchId" UUID NOT NULL,
    "proxyId" TEXT NOT NULL,
    "release" TEXT NOT NULL,
    "sentAt" TIMESTAMPTZ(3) NOT NULL,
    "receivedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "sources" INTEGER NOT NULL,
    "hitRows" INTEGER NOT NULL,
    "hits" BIGINT NOT NULL,
    "unknownCalls" INTEGER NOT NULL,
    "fieldRows" INTEGER NOT NULL,

    CONSTRAINT "IngestBatch_pkey" PRIMARY KEY ("batchId")
);

-- CreateIndex
CREATE INDEX "Endpoint_release_level_idx" ON "Endpoint"("release", "level");

-- CreateIndex
CREATE UNIQUE INDEX "Source_key_key" ON "Source"("key");

-- CreateIndex
CREATE INDEX "Source_chart_idx" ON "Source"("chart");

-- CreateIndex
CREATE INDEX "Source_namespace_idx" ON "Source"("namespace");

-- CreateIndex
CREATE INDEX "HitRollup_release_minute_idx" ON "HitRollup"("release", "minute");

-- CreateIndex
CREATE INDEX "HitRollup_sourceId_idx" ON "HitRollup"("sourceId");

-- CreateIndex
CREATE INDEX "HitTotal_sourceId_idx" ON "HitTotal"("sourceId");

-- CreateIndex
CREATE INDEX "UnknownCall_minute_idx" ON "UnknownCall"("minute");

-- CreateIndex
CREATE INDEX "FieldCount_sourceId_idx" ON "FieldCount"("sourceId");

-- AddForeignKey
ALTER TABLE "Endpoint" ADD CONSTRAINT "Endpoint_release_fkey" FOREIGN KEY ("release") REFERENCES "Release"("name") ON DELETE CASCADE ON UPDATE CASCADE;

-- Not expressible in schema.prisma: adds two `details` count maps ({"watch": 2} + {"watch": 1, "dryRun": 1}),
-- used by recordBatch's upsert of HitRollup rows.
CREATE FUNCTION apisnoop_add_counts(a JSONB, b JSONB) RETURNS JSONB
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN b = '{}'::jsonb THEN a
        WHEN a = '{}'::jsonb THEN b
        ELSE (
            SELECT jsonb_object_agg(key, total)
            FROM (
                SELECT key, sum(value::numeric) AS total
                FROM (SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) AS entries
                GROUP BY key
            ) AS sums
        )
    END
$$;
