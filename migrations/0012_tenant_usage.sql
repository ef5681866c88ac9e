-- Per-tenant usage per UTC day, and the optional daily event quota, kept exactly once: the
-- counters move in the transaction that records a batch (a trigger on its `BatchAccepted`
-- receipt), so a retried, replayed, conflicting or killed request counts exactly what the
-- event store holds.
--
-- A tenant without a quota spreads its counts over eight rows per day (`slot`), so its
-- concurrent batches do not queue behind one row lock until they commit; readers add the
-- slots up. A tenant with a quota counts in slot 0 only: each batch locks that row, sees
-- every batch committed before it, and is refused when it would take the day past the
-- quota. Its batches commit one at a time for those few milliseconds, which is what makes
-- the quota exact.

CREATE TABLE tenant_usage_daily
(
    tenant_id  text     NOT NULL,
    day        date     NOT NULL,
    slot       smallint NOT NULL,
    batches    bigint   NOT NULL DEFAULT 0,
    accepted   bigint   NOT NULL DEFAULT 0,
    duplicates bigint   NOT NULL DEFAULT 0,
    logs       bigint   NOT NULL DEFAULT 0,
    metrics    bigint   NOT NULL DEFAULT 0,
    traces     bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, slot)
);

-- Events a tenant may have accepted per UTC day (set from TENANT_DAILY_QUOTAS at start-up).
CREATE TABLE tenant_quotas
(
    tenant_id    text PRIMARY KEY,
    daily_events bigint NOT NULL CHECK (daily_events >= 0)
);

-- Variables are prefixed (`this_`) so no name can be read as one of the table's columns.
CREATE FUNCTION tenant_usage_count() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    receipt       jsonb    := NEW.payload -> 'BatchAccepted';
    this_tenant   text     := receipt ->> 'tenant_id';
    this_day      date     := (now() AT TIME ZONE 'UTC')::date;
    this_accepted bigint   := (receipt ->> 'ingested')::bigint;
    this_slot     smallint := 0;
    quota         bigint;
    used          bigint;
BEGIN
    SELECT q.daily_events INTO quota FROM tenant_quotas q WHERE q.tenant_id = this_tenant;
    IF quota IS NULL THEN
        this_slot := floor(random() * 8)::smallint;
    ELSIF this_accepted > 0 THEN
        INSERT INTO tenant_usage_daily (tenant_id, day, slot) VALUES (this_tenant, this_day, 0)
        ON CONFLICT DO NOTHING;
        PERFORM 1 FROM tenant_usage_daily u
        WHERE u.tenant_id = this_tenant AND u.day = this_day AND u.slot = 0 FOR UPDATE;
        -- Every slot: counts from before the quota was set are in the others.
        SELECT sum(u.accepted) INTO used FROM tenant_usage_daily u
        WHERE u.tenant_id = this_tenant AND u.day = this_day;
        IF used + this_accepted > quota THEN
            RAISE EXCEPTION 'tenant % is over its daily quota of % events', this_tenant, quota
                USING ERRCODE = 'TQ001';
        END IF;
    END IF;
    INSERT INTO tenant_usage_daily AS u
        (tenant_id, day, slot, batches, accepted, duplicates, logs, metrics, traces)
    VALUES (this_tenant, this_day, this_slot, 1, this_accepted,
            (receipt ->> 'duplicates')::bigint,
            (receipt -> 'accepted_by_type' ->> 'log')::bigint,
            (receipt -> 'accepted_by_type' ->> 'metric')::bigint,
            (receipt -> 'accepted_by_type' ->> 'trace')::bigint)
    ON CONFLICT ON CONSTRAINT tenant_usage_daily_pkey DO UPDATE SET
        batches = u.batches + 1,
        accepted = u.accepted + EXCLUDED.accepted,
        duplicates = u.duplicates + EXCLUDED.duplicates,
        logs = u.logs + EXCLUDED.logs,
        metrics = u.metrics + EXCLUDED.metrics,
        traces = u.traces + EXCLUDED.traces;
    RETURN NULL;
END
$$;

-- Deferred to the commit: by then the batch's deduplication claims have run, so a batch of
-- events already recorded fails as the conflict it is (and is recorded again as duplicates,
-- which cost no quota) instead of being refused for a quota it would not use.
CREATE CONSTRAINT TRIGGER tenant_usage_count
    AFTER INSERT ON events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (NEW.aggregate_type = 'IngestBatch' AND NEW.event_type = 'BatchAccepted')
EXECUTE FUNCTION tenant_usage_count();
