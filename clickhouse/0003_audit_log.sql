-- The audit log: one entry per ingest batch and per administrative command, written by the
-- audit processor. Like `events`, every row carries its source position and the table is
-- its own checkpoint.
CREATE TABLE IF NOT EXISTS audit_log
(
    tenant_id   String,
    occurred_at DateTime('UTC'),
    action      String,
    actor       String,
    subject     String,
    details     String,
    src_tx      UInt64,
    src_pos     Int64,
    src_idx     UInt32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, occurred_at, src_tx, src_pos);
