-- Web replicas share live updates through Socket.IO's PostgreSQL adapter (LISTEN/NOTIFY); messages over
-- NOTIFY's 8,000-byte limit travel through this table, named and shaped as the adapter queries it.
CREATE TABLE "LiveAttachment" (
    "id" BIGSERIAL NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "payload" BYTEA NOT NULL,

    CONSTRAINT "LiveAttachment_pkey" PRIMARY KEY ("id")
);
