-- Event processors that read rare events (alert rules, alerts, dead letters) read them
-- through this index, one range scan per aggregate type after the processor's position
-- (crates/infrastructure/src/postgres/event_log.rs), instead of walking every telemetry
-- batch in commit order since their last event: after a restart, or on the instance that
-- takes a processor over, the first read costs what the processor has to read, not the
-- size of the log since it last had something to do.
--
-- The log has one row per batch section, not per telemetry event, so the index is small
-- and the ingest path pays one more index entry per section. Building it holds off commits
-- to `events`; on a large store, build it first with CREATE INDEX CONCURRENTLY under this
-- name (docs/OPERATIONS.md) and this migration keeps it. A concurrent build that failed or
-- was cancelled leaves an invalid index behind, which Postgres never reads: it is dropped
-- and built again here.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index
               WHERE indexrelid = to_regclass('events_by_type') AND NOT indisvalid) THEN
        DROP INDEX events_by_type;
    END IF;
END
$$;
CREATE INDEX IF NOT EXISTS events_by_type ON events (aggregate_type, transaction_id, position);
