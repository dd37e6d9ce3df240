-- Ingest adds to rows that already exist far more often than it inserts (a proxy ships a batch every
-- second, and the same endpoint x source x minute keys come back all minute). Free space on each page lets
-- those updates be HOT (no index entries rewritten): fillfactor is storage, not schema, so Prisma's schema
-- cannot say it.
ALTER TABLE "HitRollup" SET (fillfactor = 70);
ALTER TABLE "HitTotal" SET (fillfactor = 70);
ALTER TABLE "FieldCount" SET (fillfactor = 70);
ALTER TABLE "UnknownCall" SET (fillfactor = 70);

-- DropIndex: no query reads per-minute rollups by source alone; every index slows the bulk upserts.
DROP INDEX "HitRollup_sourceId_idx";
