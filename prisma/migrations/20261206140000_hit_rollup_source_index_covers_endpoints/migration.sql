-- A time window's source table counts each listed source's endpoints in the window (a window with an end:
-- its rows of the window, per endpoint), and reads the edge minutes from HitRollup by source. A source's
-- rows of one minute lie among other sources' rows, so the index by (release, sourceId, minute) cost one
-- heap page per row: at 100 M hits, 50 sources' edge minutes were 8,000 pages, most of a 150 ms query.
-- The same index with the endpoint and status class answers those reads from the index alone (an index
-- only scan); it still serves every read by source and minute, so it replaces the narrower one.
DROP INDEX "HitRollup_release_sourceId_minute_idx";
CREATE INDEX "HitRollup_release_sourceId_minute_operationId_statusClass_idx" ON "HitRollup"("release", "sourceId", "minute", "operationId", "statusClass");
