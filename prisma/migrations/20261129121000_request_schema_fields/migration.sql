-- Field-level conformance coverage (the share of an endpoint's request-schema fields that conformance
-- tests sent) needs each endpoint's request schema and its fields, stored with the release's endpoints by
-- loadRelease. Releases loaded before have none until they are loaded again (the dashboard and `spec add`
-- load at every start).

-- AlterTable
ALTER TABLE "Endpoint" ADD COLUMN "requestDefinition" TEXT;

-- CreateTable
CREATE TABLE "RequestSchemaField" (
    "release" TEXT NOT NULL,
    "definition" TEXT NOT NULL,
    "field" TEXT NOT NULL,

    CONSTRAINT "RequestSchemaField_pkey" PRIMARY KEY ("release","definition","field")
);
