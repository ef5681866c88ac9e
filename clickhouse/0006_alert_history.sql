-- Alert transitions (pending, cleared, triggered, resolved) with the value that caused
-- them, written by the alert_history processor. Like every read model, the table is its own
-- checkpoint (src_tx, src_pos, src_idx).
CREATE TABLE IF NOT EXISTS alert_history
(
    tenant_id   String,
    occurred_at DateTime('UTC'),
    rule_id     String,
    rule_name   String,
    series      String,
    transition  Enum8('pending' = 1, 'cleared' = 2, 'triggered' = 3, 'resolved' = 4),
    episode     UInt64,
    value       Nullable(Float64),
    severity    String,
    reason      String,
    src_tx      UInt64,
    src_pos     Int64,
    src_idx     UInt32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, occurred_at, rule_id, series);
