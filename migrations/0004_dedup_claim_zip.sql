-- The deduplication trigger (0002_ingest_dedup.sql) reads a section's "ids" and "timestamps"
-- columns side by side with ROWS FROM instead of joining two numbered expansions: no join,
-- no materialized copy of the timestamps, and both read as text. Deriving the keys of a
-- section costs about a quarter less (measured on stored sections: 98 ms down to 72 ms for
-- 18,000 events). Columns of unequal length (never written: sections are checked when
-- built and when read) would pair an id with a null and fail the insert, where the join
-- silently dropped the unpaired ids.
CREATE OR REPLACE FUNCTION ingest_dedup_claim() RETURNS trigger
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
    SELECT ingest_dedup_key(tenant, columns.id),
           date '1970-01-01' + (columns.micros::bigint / 86400000000)::int
    FROM ROWS FROM (jsonb_array_elements_text(section -> 'ids'),
                    jsonb_array_elements_text(section -> 'timestamps')) AS columns(id, micros);
    RETURN NULL;
END
$$;
