-- Unknown calls are unknown to the spec of one release: keep which, like every other rollup.
ALTER TABLE "UnknownCall" ADD COLUMN "release" TEXT NOT NULL DEFAULT 'unknown';
ALTER TABLE "UnknownCall" ALTER COLUMN "release" DROP DEFAULT;

-- AlterPrimaryKey
ALTER TABLE "UnknownCall" DROP CONSTRAINT "UnknownCall_pkey";
ALTER TABLE "UnknownCall" ADD CONSTRAINT "UnknownCall_pkey" PRIMARY KEY ("release", "sourceId", "method", "path", "reason", "statusClass", "minute");
