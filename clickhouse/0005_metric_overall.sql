-- Metric statistics per name across services. Summaries and series without a service filter
-- read these: merging t-digest states is the expensive part of a summary, and these hold one
-- state per metric and bucket instead of one per metric, service and bucket.
CREATE TABLE IF NOT EXISTS metric_overall_1m
(
    tenant_id String, bucket DateTime('UTC'), metric_name String,
    samples   AggregateFunction(count),
    total     AggregateFunction(sum, Float64),
    minimum   AggregateFunction(min, Float64),
    maximum   AggregateFunction(max, Float64),
    quantiles AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), Float64)
) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(bucket)
  ORDER BY (tenant_id, bucket, metric_name) SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS metric_overall_1h AS metric_overall_1m;
CREATE TABLE IF NOT EXISTS metric_overall_1d AS metric_overall_1m;

CREATE MATERIALIZED VIEW IF NOT EXISTS metric_overall_1m_mv TO metric_overall_1m AS
SELECT tenant_id, toStartOfMinute(timestamp) AS bucket, metric_name,
       countState() AS samples, sumState(metric_value) AS total,
       minState(metric_value) AS minimum, maxState(metric_value) AS maximum,
       quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(metric_value) AS quantiles
FROM events WHERE event_type = 'metric' GROUP BY tenant_id, bucket, metric_name;

CREATE MATERIALIZED VIEW IF NOT EXISTS metric_overall_1h_mv TO metric_overall_1h AS
SELECT tenant_id, toStartOfHour(timestamp) AS bucket, metric_name,
       countState() AS samples, sumState(metric_value) AS total,
       minState(metric_value) AS minimum, maxState(metric_value) AS maximum,
       quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(metric_value) AS quantiles
FROM events WHERE event_type = 'metric' GROUP BY tenant_id, bucket, metric_name;

CREATE MATERIALIZED VIEW IF NOT EXISTS metric_overall_1d_mv TO metric_overall_1d AS
SELECT tenant_id, toDateTime(toStartOfDay(timestamp), 'UTC') AS bucket, metric_name,
       countState() AS samples, sumState(metric_value) AS total,
       minState(metric_value) AS minimum, maxState(metric_value) AS maximum,
       quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(metric_value) AS quantiles
FROM events WHERE event_type = 'metric' GROUP BY tenant_id, bucket, metric_name;
