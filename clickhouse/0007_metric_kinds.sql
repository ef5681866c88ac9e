-- What OpenTelemetry producers meant by their metrics: kind, temporality, series and, for
-- counters and histograms, the states increases and percentiles are computed from.
--
-- The columns added to `events` are filled by the processor from each metric event's
-- payload (gauge, and empty or zero, for everything else and for rows written before).
-- `ALTER ... ADD COLUMN` has no `IF NOT EXISTS` on ClickHouse 18.16: the migration runner
-- skips an `ADD COLUMN` whose column already exists, so the file can be re-run.
ALTER TABLE events ADD COLUMN metric_kind Enum8('gauge' = 0, 'counter' = 1, 'upDownCounter' = 2, 'histogram' = 3) DEFAULT 'gauge';
ALTER TABLE events ADD COLUMN metric_delta UInt8 DEFAULT 0;
ALTER TABLE events ADD COLUMN metric_unit String DEFAULT '';
ALTER TABLE events ADD COLUMN series_id String DEFAULT '';
ALTER TABLE events ADD COLUMN start_us Int64 DEFAULT 0;
ALTER TABLE events ADD COLUMN hist_layout String DEFAULT '';
ALTER TABLE events ADD COLUMN hist_sum Float64 DEFAULT 0;
ALTER TABLE events ADD COLUMN hist_min Float64 DEFAULT 0;
ALTER TABLE events ADD COLUMN hist_max Float64 DEFAULT 0;
ALTER TABLE events ADD COLUMN hist_keys Array(Int64);
ALTER TABLE events ADD COLUMN hist_counts Array(UInt64);

-- Every metric name's kind, temporality and unit, with when it was last seen: the reads
-- pick the statistics that make sense for each metric from here.
CREATE TABLE IF NOT EXISTS metric_kinds
(
    tenant_id String, metric_name String,
    metric_kind Enum8('gauge' = 0, 'counter' = 1, 'upDownCounter' = 2, 'histogram' = 3),
    metric_delta UInt8, metric_unit String,
    last_seen AggregateFunction(max, DateTime('UTC'))
) ENGINE = AggregatingMergeTree PARTITION BY tuple()
  ORDER BY (tenant_id, metric_name, metric_kind, metric_delta, metric_unit);

CREATE MATERIALIZED VIEW IF NOT EXISTS metric_kinds_mv TO metric_kinds AS
SELECT tenant_id, metric_name, metric_kind, metric_delta, metric_unit,
       maxState(timestamp) AS last_seen
FROM events WHERE event_type = 'metric'
GROUP BY tenant_id, metric_name, metric_kind, metric_delta, metric_unit;

-- Counter and histogram states per series, run and bucket.
--
-- A run is one series between resets: a cumulative point's start time names its run. Within
-- a run a counter's value and a histogram's count only grow, so the latest state of a run in
-- a bucket is the one with the largest value (count): `max` and `argMax` merge in any order,
-- and points arriving late or out of order still give the exact state. Reads subtract the
-- run's state before the range from its state at the end of each bucket.
--
-- Delta points add up: their run (`start_us`) is 0, and `delta_*` sum their increments.
CREATE TABLE IF NOT EXISTS metric_runs_1m
(
    tenant_id String, metric_name String, bucket DateTime('UTC'), service_name String,
    series_id String, start_us Int64, hist_layout String,
    metric_kind Enum8('gauge' = 0, 'counter' = 1, 'upDownCounter' = 2, 'histogram' = 3),
    metric_delta UInt8,
    points        AggregateFunction(count),
    last_value    AggregateFunction(max, Float64),
    last_sum      AggregateFunction(argMax, Float64, Float64),
    last_keys     AggregateFunction(argMax, Array(Int64), Float64),
    last_counts   AggregateFunction(argMax, Array(UInt64), Float64),
    delta_value   AggregateFunction(sum, Float64),
    delta_sum     AggregateFunction(sum, Float64),
    delta_buckets AggregateFunction(sumMap, Array(Int64), Array(UInt64)),
    minimum       AggregateFunction(min, Float64),
    maximum       AggregateFunction(max, Float64)
) ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(bucket)
  ORDER BY (tenant_id, metric_name, bucket, service_name, series_id, start_us, hist_layout,
            metric_kind, metric_delta)
  SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS metric_runs_1h AS metric_runs_1m;
CREATE TABLE IF NOT EXISTS metric_runs_1d AS metric_runs_1m;

CREATE MATERIALIZED VIEW IF NOT EXISTS metric_runs_1m_mv TO metric_runs_1m AS
SELECT tenant_id, metric_name, toStartOfMinute(timestamp) AS bucket, service_name, series_id,
       if(metric_delta = 1, toInt64(0), start_us) AS start_us, hist_layout, metric_kind, metric_delta,
       countState() AS points,
       maxState(if(metric_delta = 1, 0, metric_value)) AS last_value,
       argMaxState(hist_sum, if(metric_delta = 1, 0, metric_value)) AS last_sum,
       argMaxState(hist_keys, if(metric_delta = 1, 0, metric_value)) AS last_keys,
       argMaxState(hist_counts, if(metric_delta = 1, 0, metric_value)) AS last_counts,
       sumState(if(metric_delta = 1, metric_value, 0)) AS delta_value,
       sumState(if(metric_delta = 1, hist_sum, 0)) AS delta_sum,
       sumMapState(if(metric_delta = 1, hist_keys, emptyArrayInt64()),
                   if(metric_delta = 1, hist_counts, emptyArrayUInt64())) AS delta_buckets,
       minState(hist_min) AS minimum, maxState(hist_max) AS maximum
FROM events WHERE event_type = 'metric' AND metric_kind IN ('counter', 'histogram')
GROUP BY tenant_id, metric_name, bucket, service_name, series_id, start_us, hist_layout,
         metric_kind, metric_delta;

CREATE MATERIALIZED VIEW IF NOT EXISTS metric_runs_1h_mv TO metric_runs_1h AS
SELECT tenant_id, metric_name, toStartOfHour(timestamp) AS bucket, service_name, series_id,
       if(metric_delta = 1, toInt64(0), start_us) AS start_us, hist_layout, metric_kind, metric_delta,
       countState() AS points,
       maxState(if(metric_delta = 1, 0, metric_value)) AS last_value,
       argMaxState(hist_sum, if(metric_delta = 1, 0, metric_value)) AS last_sum,
       argMaxState(hist_keys, if(metric_delta = 1, 0, metric_value)) AS last_keys,
       argMaxState(hist_counts, if(metric_delta = 1, 0, metric_value)) AS last_counts,
       sumState(if(metric_delta = 1, metric_value, 0)) AS delta_value,
       sumState(if(metric_delta = 1, hist_sum, 0)) AS delta_sum,
       sumMapState(if(metric_delta = 1, hist_keys, emptyArrayInt64()),
                   if(metric_delta = 1, hist_counts, emptyArrayUInt64())) AS delta_buckets,
       minState(hist_min) AS minimum, maxState(hist_max) AS maximum
FROM events WHERE event_type = 'metric' AND metric_kind IN ('counter', 'histogram')
GROUP BY tenant_id, metric_name, bucket, service_name, series_id, start_us, hist_layout,
         metric_kind, metric_delta;

CREATE MATERIALIZED VIEW IF NOT EXISTS metric_runs_1d_mv TO metric_runs_1d AS
SELECT tenant_id, metric_name, toDateTime(toStartOfDay(timestamp), 'UTC') AS bucket, service_name,
       series_id, if(metric_delta = 1, toInt64(0), start_us) AS start_us, hist_layout, metric_kind,
       metric_delta,
       countState() AS points,
       maxState(if(metric_delta = 1, 0, metric_value)) AS last_value,
       argMaxState(hist_sum, if(metric_delta = 1, 0, metric_value)) AS last_sum,
       argMaxState(hist_keys, if(metric_delta = 1, 0, metric_value)) AS last_keys,
       argMaxState(hist_counts, if(metric_delta = 1, 0, metric_value)) AS last_counts,
       sumState(if(metric_delta = 1, metric_value, 0)) AS delta_value,
       sumState(if(metric_delta = 1, hist_sum, 0)) AS delta_sum,
       sumMapState(if(metric_delta = 1, hist_keys, emptyArrayInt64()),
                   if(metric_delta = 1, hist_counts, emptyArrayUInt64())) AS delta_buckets,
       minState(hist_min) AS minimum, maxState(hist_max) AS maximum
FROM events WHERE event_type = 'metric' AND metric_kind IN ('counter', 'histogram')
GROUP BY tenant_id, metric_name, bucket, service_name, series_id, start_us, hist_layout,
         metric_kind, metric_delta;
