-- The event store gets a replay horizon: telemetry batches live in one partition per UTC day
-- of `recorded_at`, which maintenance drops once the day is past the horizon and every
-- processor that reads telemetry has passed the partition's last event
-- (`events_maintain`, run by the service; docs/OPERATIONS.md). Every other aggregate's
-- events (API keys, alert rules, alerts, dead letters, read models) are kept for good in
-- `events_kept`: no key, rule or alert state is ever lost to the horizon.
--
--   events                      PARTITION BY LIST (aggregate_type)
--   ├── events_kept             DEFAULT                  PRIMARY KEY (type, id, sequence)
--   └── events_telemetry        IN ('IngestBatch')       PARTITION BY RANGE (recorded_at)
--       ├── events_telemetry_YYYYMMDD  one UTC day       UNIQUE (aggregate_id, sequence)
--       └── events_telemetry_late      DEFAULT           UNIQUE (aggregate_id, sequence)
--
-- A primary key over all of `events` would have to contain `recorded_at` (Postgres requires
-- the partition keys in a partitioned table's unique constraints), and would then no longer
-- stop two writers from appending the same sequence number. So each leaf has its own unique
-- index on what postgres-es relies on for optimistic concurrency. A batch is written once,
-- in one transaction, so its rows are always in one partition. Two requests with the same
-- `Idempotency-Key` that both miss the other's batch and commit on either side of UTC
-- midnight would land in two partitions. Their events still meet in the deduplication
-- claims (`ingest_dedup`), so nothing is counted twice; the later answer reports duplicates
-- instead of replaying the first answer.
--
-- The order processors read in, (transaction_id, position), and their checkpoints do not
-- change: `position` is still one sequence for the whole store, and the log indexes are
-- partitioned indexes over every leaf.
--
-- Existing rows are copied into the new table (one partition per day they were recorded
-- on): the migration takes time in proportion to the store's size and holds off writes
-- while it runs (docs/OPERATIONS.md).

ALTER TABLE events RENAME TO events_unpartitioned;
ALTER INDEX events_pkey RENAME TO events_unpartitioned_pkey;
ALTER INDEX events_log_order RENAME TO events_unpartitioned_log_order;
ALTER INDEX events_by_type RENAME TO events_unpartitioned_by_type;
DROP TRIGGER ingest_dedup_claim ON events_unpartitioned;

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
    recorded_at    timestamptz                  NOT NULL DEFAULT now()
) PARTITION BY LIST (aggregate_type);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE events ALTER COLUMN payload SET COMPRESSION lz4;
    END IF;
END
$$;

CREATE TABLE events_kept PARTITION OF events DEFAULT;
ALTER TABLE events_kept ADD PRIMARY KEY (aggregate_type, aggregate_id, sequence);

CREATE TABLE events_telemetry PARTITION OF events FOR VALUES IN ('IngestBatch')
    PARTITION BY RANGE (recorded_at);
CREATE TABLE events_telemetry_late PARTITION OF events_telemetry DEFAULT;
CREATE UNIQUE INDEX events_telemetry_late_stream ON events_telemetry_late (aggregate_id, sequence);

-- The day partition holding `day` (UTC), created with its unique index when missing. Rows of
-- that day already in the late partition are moved into it, in one statement (the attach
-- checks that the late partition holds none of the day). Callers hold `events` locked
-- (ACCESS EXCLUSIVE), so no batch can reach the late partition meanwhile.
CREATE FUNCTION events_telemetry_day(day date) RETURNS void
    LANGUAGE plpgsql AS
$$
DECLARE
    part_name text := format('events_telemetry_%s', to_char(day, 'YYYYMMDD'));
    day_start timestamptz := day::timestamp AT TIME ZONE 'UTC';
    day_end   timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass(part_name) IS NOT NULL THEN
        RETURN;
    END IF;
    -- COMPRESSION: LIKE does not copy the payload's LZ4 otherwise (PARTITION OF would).
    EXECUTE format('CREATE TABLE %I (LIKE events_telemetry INCLUDING DEFAULTS
                    INCLUDING CONSTRAINTS INCLUDING COMPRESSION)', part_name);
    EXECUTE format(
        'WITH moved AS (DELETE FROM events_telemetry_late
                        WHERE recorded_at >= %L AND recorded_at < %L RETURNING *)
         INSERT INTO %I OVERRIDING SYSTEM VALUE SELECT * FROM moved',
        day_start, day_end, part_name);
    EXECUTE format('CREATE UNIQUE INDEX %I ON %I (aggregate_id, sequence)',
                   part_name || '_stream', part_name);
    EXECUTE format('ALTER TABLE events_telemetry ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part_name, day_start, day_end);
END
$$;

DO $$
DECLARE
    day date;
BEGIN
    FOR day IN SELECT DISTINCT (recorded_at AT TIME ZONE 'UTC')::date
               FROM events_unpartitioned WHERE aggregate_type = 'IngestBatch'
    LOOP
        PERFORM events_telemetry_day(day);
    END LOOP;
END
$$;

INSERT INTO events OVERRIDING SYSTEM VALUE SELECT * FROM events_unpartitioned;
SELECT setval(pg_get_serial_sequence('events', 'position'),
              coalesce((SELECT max(position) FROM events_unpartitioned), 0) + 1, false);
DROP TABLE events_unpartitioned;

CREATE INDEX events_log_order ON events (transaction_id, position);
CREATE INDEX events_by_type ON events (aggregate_type, transaction_id, position);
-- The copies of the log indexes on the kept events, named like the parent's (rare types are
-- read through `events_kept_by_type`; day partitions get generated names).
ALTER INDEX events_kept_transaction_id_position_idx RENAME TO events_kept_log_order;
ALTER INDEX events_kept_aggregate_type_transaction_id_position_idx RENAME TO events_kept_by_type;

CREATE TRIGGER ingest_dedup_claim
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.aggregate_type = 'IngestBatch'
        AND NEW.event_type IN ('LogIngested', 'MetricIngested', 'TraceIngested'))
EXECUTE FUNCTION ingest_dedup_claim();

-- How far each event processor that reads telemetry has durably got in the log. Every
-- instance registers those processors at start-up (at position 0, so one that never ran
-- holds the horizon back), and the instance that runs one records its progress (about once
-- a second while it advances). A telemetry partition is dropped only when every processor
-- listed here is past its last event; a processor that no version runs any more must be
-- deleted from here by hand (docs/OPERATIONS.md).
CREATE TABLE processor_progress
(
    name           text PRIMARY KEY,
    transaction_id xid8        NOT NULL,
    position       bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The outcome of the last maintenance run, for /readyz and operators.
CREATE TABLE event_store_horizon
(
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    ran_at         timestamptz NOT NULL,
    -- `at` minus the horizon (NULL: the horizon is off, everything is kept).
    horizon_start  timestamptz,
    -- Telemetry recorded before this instant is gone from the store (NULL: nothing dropped).
    dropped_before timestamptz,
    -- The first partition past the horizon that is kept, and the processors holding it.
    held_partition text,
    held_back_by   text[]      NOT NULL DEFAULT '{}'
);

-- One maintenance run as of `at`: creates the day partitions from `at`'s day to two days
-- ahead, then drops, oldest first, every day partition that ended before `at - horizon` and
-- whose last event (in log order) every processor in `processor_progress` has passed; it
-- stops at the first one that a processor holds back, and deletes the late partition's rows
-- in the same bounds. A NULL horizon drops nothing. Returns (and records) the outcome.
-- Instances run it concurrently: an advisory lock makes them take turns. A run with anything
-- to create, drop or delete first locks all of `events` (ACCESS EXCLUSIVE, waiting at most
-- `lock_timeout`, 10 s, or failing until the next run), so that no batch commits into a
-- partition while it moves, and the last event of a partition is read with every
-- transaction that could still add to it finished; ingestion and reads wait those
-- milliseconds. Taking the one lock first, before any partition's, leaves no lock to
-- upgrade, so no reader can deadlock with it.
CREATE FUNCTION events_maintain(at timestamptz, horizon interval)
    RETURNS SETOF event_store_horizon
    LANGUAGE plpgsql AS
$$
DECLARE
    horizon_start timestamptz := at - horizon;  -- NULL when the horizon is off
    today         date        := (at AT TIME ZONE 'UTC')::date;
    candidate     record;
    last_event    record;
    behind        text[];
    held          text;
    held_by       text[]      := '{}';
    dropped_until timestamptz;
    day           date;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('events_maintain'));
    IF EXISTS (SELECT 1 FROM generate_series(today, today + 2, interval '1 day') AS d
               WHERE to_regclass(format('events_telemetry_%s', to_char(d, 'YYYYMMDD'))) IS NULL)
       OR (horizon_start IS NOT NULL AND EXISTS (
               SELECT 1 FROM pg_inherits
               JOIN pg_class child ON child.oid = pg_inherits.inhrelid
               WHERE pg_inherits.inhparent = 'events_telemetry'::regclass
                 AND child.relname ~ '^events_telemetry_[0-9]{8}$'
                 AND (to_date(substring(child.relname from 18), 'YYYYMMDD') + 1)::timestamp
                     AT TIME ZONE 'UTC' <= horizon_start))
       OR (horizon_start IS NOT NULL AND EXISTS (
               SELECT 1 FROM events_telemetry_late WHERE recorded_at < horizon_start)) THEN
        SET LOCAL lock_timeout = '10s';
        LOCK TABLE events IN ACCESS EXCLUSIVE MODE;
    END IF;
    FOR day IN SELECT generate_series(today, today + 2, interval '1 day')::date
    LOOP
        PERFORM events_telemetry_day(day);
    END LOOP;

    FOR candidate IN
        SELECT child.relname::text AS name,
               (to_date(substring(child.relname from 18), 'YYYYMMDD') + 1)::timestamp
                   AT TIME ZONE 'UTC' AS ends
        FROM pg_inherits
        JOIN pg_class child ON child.oid = pg_inherits.inhrelid
        WHERE pg_inherits.inhparent = 'events_telemetry'::regclass
          AND child.relname ~ '^events_telemetry_[0-9]{8}$'
        ORDER BY child.relname
    LOOP
        EXIT WHEN horizon_start IS NULL OR candidate.ends > horizon_start;
        EXECUTE format('SELECT transaction_id, position FROM %I
                        ORDER BY transaction_id DESC, position DESC LIMIT 1', candidate.name)
            INTO last_event;
        IF last_event.position IS NOT NULL THEN
            SELECT coalesce(array_agg(p.name ORDER BY p.name), '{}') INTO behind
            FROM processor_progress p
            WHERE (p.transaction_id, p.position)
                  < (last_event.transaction_id, last_event.position);
            -- No instance has started since this migration: the readers are not known yet.
            IF NOT EXISTS (SELECT 1 FROM processor_progress) THEN
                behind := ARRAY['(no processor registered yet)'];
            END IF;
            IF cardinality(behind) > 0 THEN
                held := candidate.name;
                held_by := behind;
                EXIT;
            END IF;
        END IF;
        EXECUTE format('DROP TABLE %I', candidate.name);
        dropped_until := candidate.ends;
    END LOOP;

    -- Late rows (recorded on a day that had no partition yet) in the dropped range, once the
    -- readers are known.
    IF dropped_until IS NOT NULL AND EXISTS (SELECT 1 FROM processor_progress) THEN
        DELETE FROM events_telemetry_late late
        WHERE late.recorded_at < dropped_until
          AND NOT EXISTS (
              SELECT 1 FROM processor_progress p
              WHERE (p.transaction_id, p.position) < (late.transaction_id, late.position));
    END IF;

    INSERT INTO event_store_horizon AS h (id, ran_at, horizon_start, dropped_before,
                                          held_partition, held_back_by)
    VALUES (true, now(), horizon_start, dropped_until, held, held_by)
    ON CONFLICT (id) DO UPDATE SET
        ran_at = EXCLUDED.ran_at,
        horizon_start = EXCLUDED.horizon_start,
        dropped_before = greatest(h.dropped_before, EXCLUDED.dropped_before),
        held_partition = EXCLUDED.held_partition,
        held_back_by = EXCLUDED.held_back_by;
    RETURN QUERY SELECT * FROM event_store_horizon;
END
$$;
