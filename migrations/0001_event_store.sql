-- The postgres-es event store (its db/init.sql), extended so event processors can tail it.
--
-- postgres-es inserts (aggregate_type, aggregate_id, sequence, event_type, event_version,
-- payload, metadata); every column added here has a default, so its INSERT is unchanged.
--
-- payload and metadata are jsonb where postgres-es's own schema says json: sqlx sends
-- serde_json values in the jsonb binary format, so a json column made Postgres parse every
-- event into jsonb and print it back to text; jsonb also lets the deduplication trigger
-- read one array of a large event without parsing the rest.
--
-- position + transaction_id give a global order that is safe against concurrent commits:
-- a position alone can become visible out of order (a later position may commit first), so
-- a processor only reads rows whose transaction is older than every transaction still in
-- flight (transaction_id < pg_snapshot_xmin(pg_current_snapshot())) and orders and
-- checkpoints by (transaction_id, position).
CREATE TABLE events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        jsonb                        NOT NULL,
    metadata       jsonb                        NOT NULL,
    position       bigint GENERATED ALWAYS AS IDENTITY,
    transaction_id xid8                         NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at    timestamptz                  NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE INDEX events_log_order ON events (transaction_id, position);

-- Batches of telemetry are large documents: LZ4 compresses them several times faster than
-- the default pglz at a similar ratio. Servers built without LZ4 keep the default.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE events ALTER COLUMN payload SET COMPRESSION lz4;
    END IF;
END
$$;

-- Only needed if snapshotting is employed (postgres-es).
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          jsonb                                NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);
