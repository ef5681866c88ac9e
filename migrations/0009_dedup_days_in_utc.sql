-- Deduplication days are UTC days everywhere (replaces ingest_dedup_maintain of 0006).
--
-- The trigger derives an event's day from its UTC timestamp, but maintenance took "today"
-- from `current_date`, and `received_on` defaulted to it: both follow the session's
-- TimeZone. On a server whose TimeZone is not UTC the window's first day, the partitions
-- created ahead and the late rows' receipt dates were off by a day for part of every day.
--
-- And a day without a partition is now checked for late rows under the lock that keeps
-- claims out of the default partition: a claim committed between the check and
-- `CREATE TABLE ... PARTITION OF` made the CREATE fail (the default partition then holds a
-- row of the new range), aborting that hour's run.
ALTER TABLE ingest_dedup ALTER COLUMN received_on SET DEFAULT (now() AT TIME ZONE 'UTC')::date;

CREATE OR REPLACE FUNCTION ingest_dedup_maintain(window_days int) RETURNS void
    LANGUAGE plpgsql AS
$$
DECLARE
    today     date := (now() AT TIME ZONE 'UTC')::date;
    first_day date := today - window_days;
    day       date;
    part_name text;
    part      record;
BEGIN
    -- Instances run this concurrently; one at a time keeps CREATE/DROP from racing.
    PERFORM pg_advisory_xact_lock(hashtext('ingest_dedup_maintain'));
    FOR day IN SELECT generate_series(first_day, today + 2, interval '1 day')::date
    LOOP
        part_name := format('ingest_dedup_%s', to_char(day, 'YYYYMMDD'));
        CONTINUE WHEN to_regclass(part_name) IS NOT NULL;
        -- No claim may reach the default partition from here until the transaction ends.
        LOCK TABLE ingest_dedup_late IN SHARE ROW EXCLUSIVE MODE;
        IF NOT EXISTS (SELECT 1 FROM ingest_dedup_late WHERE event_day = day) THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF ingest_dedup FOR VALUES FROM (%L) TO (%L)',
                part_name, day, day + 1);
            EXECUTE format('CREATE UNIQUE INDEX %I ON %I (event_key)', part_name || '_key', part_name);
            CONTINUE;
        END IF;
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
