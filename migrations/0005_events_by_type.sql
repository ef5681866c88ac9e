-- Event processors that read rare events (alert rules, alerts, dead letters) read them
-- through this index, one range scan per aggregate type after the processor's position
-- (crates/infrastructure/src/postgres/event_log.rs), instead of walking every telemetry
-- batch in commit order since their last event: after a restart, or on the instance that
-- takes a processor over, the first read costs what the processor has to read, not the
-- size of the log since it last had something to do.
--
-- The log has one row per batch section, not per telemetry event, so the index is small
-- and the ingest path pays one more index entry per section.
CREATE INDEX events_by_type ON events (aggregate_type, transaction_id, position);
