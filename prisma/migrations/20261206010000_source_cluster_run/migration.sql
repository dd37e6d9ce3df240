-- Every source carries the cluster its calls went to and the run (a CI run id) they belong to, both
-- filters of every view. Sources stored before have neither (null): their identity (protocol `sourceKey`)
-- is unchanged, as a key names cluster and run only when one is set.

-- AlterTable
ALTER TABLE "Source" ADD COLUMN "cluster" TEXT,
ADD COLUMN "run" TEXT;

-- CreateIndex
CREATE INDEX "Source_cluster_idx" ON "Source"("cluster");

-- CreateIndex
CREATE INDEX "Source_run_idx" ON "Source"("run");
