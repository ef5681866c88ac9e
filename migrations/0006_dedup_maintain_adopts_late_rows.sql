-- Partition maintenance that cannot get stuck (replaces ingest_dedup_maintain of 0002).
--
-- Claims for a day without a partition land in the default partition `ingest_dedup_late`:
-- on a fresh database before maintenance first ran, or when maintenance failed for longer
-- than the two days it creates ahead. `CREATE TABLE ... PARTITION OF` for such a day then
-- fails (the default partition holds rows of its range), which aborted the whole function:
-- no day partition was created or dropped again, and storage grew without bound.
--
-- Now a missing day partition is built beside the table, adopts that day's rows from the
-- default partition and is attached in the same transaction. The default partition is locked
-- against inserts for that moment, so no claim of the day can slip in between the move and
-- the attach (ingestion waits for the lock; it is held for one day's late rows).
CREATE OR REPLACE FUNCTION ingest_dedup_maintain(window_days int) RETURNS void
    LANGUAGE plpgsql AS
$$
DECLARE
    first_day date := current_date - window_days;
    day       date;
    part_name text;
    part      record;
BEGIN
    -- Instances run this concurrently; one at a time keeps CREATE/DROP from racing.
    PERFORM pg_advisory_xact_lock(hashtext('ingest_dedup_maintain'));
    FOR day IN SELECT generate_series(first_day, current_date + 2, interval '1 day')::date
    LOOP
        part_name := format('ingest_dedup_%s', to_char(day, 'YYYYMMDD'));
        CONTINUE WHEN to_regclass(part_name) IS NOT NULL;
        IF NOT EXISTS (SELECT 1 FROM ingest_dedup_late WHERE event_day = day) THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF ingest_dedup FOR VALUES FROM (%L) TO (%L)',
                part_name, day, day + 1);
            EXECUTE format('CREATE UNIQUE INDEX %I ON %I (event_key)', part_name || '_key', part_name);
            CONTINUE;
        END IF;
        LOCK TABLE ingest_dedup_late IN SHARE ROW EXCLUSIVE MODE;
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
    FOR part IN
        SELECT child.relname
        FROM pg_inherits
        JOIN pg_class child ON child.oid = pg_inherits.inhrelid
        JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
        WHERE parent.relname = 'ingest_dedup'
          AND child.relname ~ '^ingest_dedup_[0-9]{8}$'
          AND to_date(substring(child.relname from 14), 'YYYYMMDD') < first_day
    LOOP
        EXECUTE format('DROP TABLE %I', part.relname);
    END LOOP;
    DELETE FROM ingest_dedup_late WHERE received_on < first_day;
END
$$;
