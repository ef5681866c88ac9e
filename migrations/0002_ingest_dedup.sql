-- Synchronous, durable duplicate detection on (tenant, eventId).
--
-- Every telemetry event recorded in the event store claims one row here, in the same
-- transaction (trigger below). A second claim of the same key fails with a unique
-- violation, which postgres-es reports as an optimistic-lock conflict: the ingest service
-- then looks up which events already exist and records the batch again without them.
--
-- event_key is the MD5 of tenant and event id (128 bits: a fixed 16 bytes whatever the id
-- length). Rows are partitioned by the day of the event's own timestamp, so a retry (same
-- event, same timestamp) always lands in the partition holding the original, and the
-- window is enforced by dropping whole partitions. Events older than the window when they
-- first arrive go to the default partition and are deleted by receipt date instead.
--
-- Uniqueness is enforced per partition: each day partition has a unique index on event_key
-- alone (the day is implied), which keeps index entries at 16 bytes of key; the default
-- partition, which mixes days, is unique on (event_key, event_day).
CREATE TABLE ingest_dedup
(
    event_key   uuid NOT NULL,
    event_day   date NOT NULL,
    received_on date NOT NULL DEFAULT current_date
) PARTITION BY RANGE (event_day);

CREATE TABLE ingest_dedup_late PARTITION OF ingest_dedup DEFAULT;
CREATE UNIQUE INDEX ingest_dedup_late_key ON ingest_dedup_late (event_key, event_day);
CREATE INDEX ingest_dedup_late_received_on ON ingest_dedup_late (received_on);

CREATE FUNCTION ingest_dedup_key(tenant_id text, event_id text) RETURNS uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT md5(tenant_id || chr(31) || event_id)::uuid $$;

-- Claims the keys of a section event (LogIngested, MetricIngested, TraceIngested).
-- Sections store their events column-wise, so only the "ids" and "timestamps" arrays are read.
CREATE FUNCTION ingest_dedup_claim() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    tenant  text  := NEW.metadata ->> 'tenant_id';
    section jsonb := NEW.payload -> NEW.event_type;
BEGIN
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'ingest section % of batch % has no tenant_id metadata',
            NEW.event_type, NEW.aggregate_id;
    END IF;
    INSERT INTO ingest_dedup (event_key, event_day)
    SELECT ingest_dedup_key(tenant, ids.id),
           date '1970-01-01' + ((stamps.micros)::bigint / 86400000000)::int
    FROM jsonb_array_elements_text(section -> 'ids') WITH ORDINALITY AS ids(id, n)
    JOIN jsonb_array_elements(section -> 'timestamps') WITH ORDINALITY AS stamps(micros, n)
        USING (n);
    RETURN NULL;
END
$$;

CREATE TRIGGER ingest_dedup_claim
    AFTER INSERT ON events
    FOR EACH ROW
    WHEN (NEW.aggregate_type = 'IngestBatch'
        AND NEW.event_type IN ('LogIngested', 'MetricIngested', 'TraceIngested'))
EXECUTE FUNCTION ingest_dedup_claim();

-- Keeps one partition per day from (today - window_days) to (today + 2), drops older day
-- partitions and deletes late rows received before the window. Idempotent; the service runs
-- it at start-up and hourly.
CREATE FUNCTION ingest_dedup_maintain(window_days int) RETURNS void
    LANGUAGE plpgsql AS
$$
DECLARE
    first_day date := current_date - window_days;
    day       date;
    part      record;
BEGIN
    -- Instances run this concurrently; one at a time keeps CREATE/DROP from racing.
    PERFORM pg_advisory_xact_lock(hashtext('ingest_dedup_maintain'));
    FOR day IN SELECT generate_series(first_day, current_date + 2, interval '1 day')::date
    LOOP
        IF to_regclass(format('ingest_dedup_%s', to_char(day, 'YYYYMMDD'))) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF ingest_dedup FOR VALUES FROM (%L) TO (%L)',
                format('ingest_dedup_%s', to_char(day, 'YYYYMMDD')), day, day + 1);
            EXECUTE format('CREATE UNIQUE INDEX %I ON %I (event_key)',
                format('ingest_dedup_%s_key', to_char(day, 'YYYYMMDD')),
                format('ingest_dedup_%s', to_char(day, 'YYYYMMDD')));
        END IF;
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
