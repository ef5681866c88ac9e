-- Minute, hour and day rollups per tenant, maintained by materialized views on `events`.
--
-- A view sees exactly the block inserted into `events`, so the rollups stay consistent with
-- the raw table even when an INSERT is cut short. Readers always aggregate again
-- (sum(...), *Merge(...)) because merges are eventual.
--
-- Sort keys start with (tenant_id, bucket): summaries read a time range across all series,
-- and a bucket-first key maps it to one contiguous run of granules. Small granules keep the
-- rows read for the edges of a range (and their aggregate states) few.

-- Event counts by type and service.
CREATE TABLE IF NOT EXISTS event_counts_1m
(
    tenant_id String, bucket DateTime('UTC'),
    event_type Enum8('log' = 1, 'metric' = 2, 'trace' = 3), service_name String,
    events UInt64
) ENGINE = SummingMergeTree(events) PARTITION BY toYYYYMM(bucket)
  ORDER BY (tenant_id, bucket, event_type, service_name) SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS event_counts_1h AS event_counts_1m;
CREATE TABLE IF NOT EXISTS event_counts_1d AS event_counts_1m;

CREATE MATERIALIZED VIEW IF NOT EXISTS event_counts_1m_mv TO event_counts_1m AS
SELECT tenant_id, toStartOfMinute(timestamp) AS bucket, event_type, service_name, count() AS events
FROM events GROUP BY tenant_id, bucket, event_type, service_name;

CREATE MATERIALIZED VIEW IF NOT EXISTS event_counts_1h_mv TO event_counts_1h AS
SELECT tenant_id, toStartOfHour(timestamp) AS bucket, event_type, service_name, count() AS events
FROM events GROUP BY tenant_id, bucket, event_type, service_name;

CREATE MATERIALIZED VIEW IF NOT EXISTS event_counts_1d_mv TO event_counts_1d AS
SELECT tenant_id, toDateTime(toStartOfDay(timestamp), 'UTC') AS bucket, event_type, service_name,
       count() AS events
FROM events GROUP BY tenant_id, bucket, event_type, service_name;

-- Event counts by user (events without a user are not counted here).
CREATE TABLE IF NOT EXISTS user_counts_1m
(
    tenant_id String, bucket DateTime('UTC'), user_id String, events UInt64
) ENGINE = SummingMergeTree(events) PARTITION BY toYYYYMM(bucket)
  ORDER BY (tenant_id, bucket, user_id) SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS user_counts_1h AS user_counts_1m;
CREATE TABLE IF NOT EXISTS user_counts_1d AS user_counts_1m;

CREATE MATERIALIZED VIEW IF NOT EXISTS user_counts_1m_mv TO user_counts_1m AS
SELECT tenant_id, toStartOfMinute(timestamp) AS bucket, user_id, count() AS events
FROM events WHERE user_id != '' GROUP BY tenant_id, bucket, user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS user_counts_1h_mv TO user_counts_1h AS
SELECT tenant_id, toStartOfHour(timestamp) AS bucket, user_id, count() AS events
FROM events WHERE user_id != '' GROUP BY tenant_id, bucket, user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS user_counts_1d_mv TO user_counts_1d AS
SELECT tenant_id, toDateTime(toStartOfDay(timestamp), 'UTC') AS bucket, user_id, count() AS events
FROM events WHERE user_id != '' GROUP BY tenant_id, bucket, user_id;

-- Metric statistics per name and service: count, sum, min, max and t-digest quantiles.
CREATE TABLE IF NOT EXISTS metric_stats_1m
(
    tenant_id String, bucket DateTime('UTC'), metric_name String, service_name String,
    samples   AggregateFunction(count),
    total     AggregateFunction(sum, Float64),
    minimum   AggregateFunction(min, Float64),
    maximum   AggregateFunction(max, Float64),
    quantiles AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), Float64)
) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(bucket)
  ORDER BY (tenant_id, bucket, metric_name, service_name) SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS metric_stats_1h AS metric_stats_1m;
CREATE TABLE IF NOT EXISTS metric_stats_1d AS metric_stats_1m;

CREATE MATERIALIZED VIEW IF NOT EXISTS metric_stats_1m_mv TO metric_stats_1m AS
SELECT tenant_id, toStartOfMinute(timestamp) AS bucket, metric_name, service_name,
       countState() AS samples, sumState(metric_value) AS total,
       minState(metric_value) AS minimum, maxState(metric_value) AS maximum,
       quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(metric_value) AS quantiles
FROM events WHERE event_type = 'metric' GROUP BY tenant_id, bucket, metric_name, service_name;

CREATE MATERIALIZED VIEW IF NOT EXISTS metric_stats_1h_mv TO metric_stats_1h AS
SELECT tenant_id, toStartOfHour(timestamp) AS bucket, metric_name, service_name,
       countState() AS samples, sumState(metric_value) AS total,
       minState(metric_value) AS minimum, maxState(metric_value) AS maximum,
       quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(metric_value) AS quantiles
FROM events WHERE event_type = 'metric' GROUP BY tenant_id, bucket, metric_name, service_name;

CREATE MATERIALIZED VIEW IF NOT EXISTS metric_stats_1d_mv TO metric_stats_1d AS
SELECT tenant_id, toDateTime(toStartOfDay(timestamp), 'UTC') AS bucket, metric_name, service_name,
       countState() AS samples, sumState(metric_value) AS total,
       minState(metric_value) AS minimum, maxState(metric_value) AS maximum,
       quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(metric_value) AS quantiles
FROM events WHERE event_type = 'metric' GROUP BY tenant_id, bucket, metric_name, service_name;
