-- Deduplication days are UTC days everywhere, and maintenance takes its locks in the order
-- ingestion does (replaces ingest_dedup_maintain of 0006).
--
-- The trigger derives an event's day from its UTC timestamp, but maintenance took "today"
-- from `current_date`, and `received_on` defaulted to it: both follow the session's
-- TimeZone. On a server whose TimeZone is not UTC the window's first day, the partitions
-- created ahead and the late rows' receipt dates were off by a day for part of every day.
--
-- Lock order: a claim locks the parent table first (ROW EXCLUSIVE) and then the partition
-- its row is routed to. Maintenance locked partitions first: the default partition, to adopt
-- its rows, or an expired day partition, by dropping it, and then the parent (creating or
-- dropping a partition takes ACCESS EXCLUSIVE on it). A claim routed to that partition at
-- that moment (an event of the day leaving the window, at midnight) deadlocked with it, and
-- Postgres aborted one of them. Now a run that creates or drops anything locks the parent
-- first, which also keeps every claim out while it works: a check of the default partition
-- for a day's rows can no longer be overtaken by a claim, which made the `CREATE TABLE ...
-- PARTITION OF` that followed fail and abort the run. A run with nothing to create or drop
-- (all but one an hour, day in day out) takes no lock but the default partition's row lock
-- for deleting its expired rows.
ALTER TABLE ingest_dedup ALTER COLUMN received_on SET DEFAULT (now() AT TIME ZONE 'UTC')::date;

CREATE OR REPLACE FUNCTION ingest_dedup_maintain(window_days int) RETURNS void
    LANGUAGE plpgsql AS
$$
DECLARE
    today     date := (now() AT TIME ZONE 'UTC')::date;
    first_day date := today - window_days;
    day       date;
    part_name text;
    missing   date[];
    expired   text[];
BEGIN
    -- Instances run this concurrently; one at a time keeps CREATE/DROP from racing.
    PERFORM pg_advisory_xact_lock(hashtext('ingest_dedup_maintain'));
    DELETE FROM ingest_dedup_late WHERE received_on < first_day;

    SELECT array_agg(candidate::date) INTO missing
    FROM generate_series(first_day, today + 2, interval '1 day') AS candidate
    WHERE to_regclass(format('ingest_dedup_%s', to_char(candidate, 'YYYYMMDD'))) IS NULL;
    SELECT array_agg(child.relname::text) INTO expired
    FROM pg_inherits
    JOIN pg_class child ON child.oid = pg_inherits.inhrelid
    WHERE pg_inherits.inhparent = 'ingest_dedup'::regclass
      AND child.relname ~ '^ingest_dedup_[0-9]{8}$'
      AND to_date(substring(child.relname from 14), 'YYYYMMDD') < first_day;
    IF missing IS NULL AND expired IS NULL THEN
        RETURN;
    END IF;

    -- The parent first, as a claim does; held until the transaction ends.
    LOCK TABLE ONLY ingest_dedup IN ACCESS EXCLUSIVE MODE;
    FOREACH day IN ARRAY coalesce(missing, '{}')
    LOOP
        part_name := format('ingest_dedup_%s', to_char(day, 'YYYYMMDD'));
        IF NOT EXISTS (SELECT 1 FROM ingest_dedup_late WHERE event_day = day) THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF ingest_dedup FOR VALUES FROM (%L) TO (%L)',
                part_name, day, day + 1);
            EXECUTE format('CREATE UNIQUE INDEX %I ON %I (event_key)', part_name || '_key', part_name);
            CONTINUE;
        END IF;
        -- Claims for the day went to the default partition: the new partition adopts them.
        EXECUTE format('CREATE TABLE %I (LIKE ingest_dedup INCLUDING DEFAULTS)', part_name);
        EXECUTE format(
            'INSERT INTO %I (event_key, event_day, received_on)
             SELECT event_key, event_day, received_on FROM ingest_dedup_late
             WHERE event_day = %L', part_name, day);
        DELETE FROM ingest_dedup_late WHERE event_day = day;
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (event_key)', part_name || '_key', part_name);
        EXECUTE format(
            'ALTER TABLE ingest_dedup ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
            part_name, day, day + 1);
    END LOOP;
    FOREACH part_name IN ARRAY coalesce(expired, '{}')
    LOOP
        EXECUTE format('DROP TABLE %I', part_name);
    END LOOP;
END
$$;
