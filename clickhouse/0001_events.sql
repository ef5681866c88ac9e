-- Raw telemetry events: one row per accepted event, written by the aggregation processor.
--
-- Every row carries the position of the domain event it came from (src_tx, src_pos) and its
-- index within that event (src_idx). The processor writes rows in that order and resumes
-- from the largest position present, so the table is its own checkpoint: an INSERT cut
-- short (ClickHouse keeps the rows that arrived) is continued, never repeated.
--
-- Works on ClickHouse 18.16 and current versions: no LowCardinality, no DateTime64, no TTL.
CREATE TABLE IF NOT EXISTS events
(
    tenant_id    String,
    ts_us        Int64,
    timestamp    DateTime('UTC'),
    event_id     String,
    event_type   Enum8('log' = 1, 'metric' = 2, 'trace' = 3),
    service_name String,
    user_id      String,
    metric_name  String,
    metric_value Float64,
    payload      String,
    src_tx       UInt64,
    src_pos      Int64,
    src_idx      UInt32,
    recorded_at  DateTime('UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (tenant_id, ts_us, event_id);
