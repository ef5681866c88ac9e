-- Usage, continued: events recorded from OpenTelemetry exports (counted by the trigger with
-- the rest of the batch, exactly once), and ingestion requests refused per reason (tallied
-- by each instance and added about once a second: a refusal records nothing, so there is no
-- transaction to count it in).

ALTER TABLE tenant_usage_daily ADD COLUMN otlp bigint NOT NULL DEFAULT 0;

CREATE TABLE tenant_refusals_daily
(
    tenant_id text   NOT NULL,
    day       date   NOT NULL,
    reason    text   NOT NULL,
    requests  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, reason)
);

-- As in 0012, and OTLP batches (`"otlp": true` in the receipt) count their events in `otlp`.
CREATE OR REPLACE FUNCTION tenant_usage_count() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    receipt       jsonb    := NEW.payload -> 'BatchAccepted';
    this_tenant   text     := receipt ->> 'tenant_id';
    this_day      date     := (now() AT TIME ZONE 'UTC')::date;
    this_accepted bigint   := (receipt ->> 'ingested')::bigint;
    this_otlp     bigint   := CASE WHEN (receipt ->> 'otlp')::boolean THEN this_accepted ELSE 0 END;
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
        (tenant_id, day, slot, batches, accepted, duplicates, logs, metrics, traces, otlp)
    VALUES (this_tenant, this_day, this_slot, 1, this_accepted,
            (receipt ->> 'duplicates')::bigint,
            (receipt -> 'accepted_by_type' ->> 'log')::bigint,
            (receipt -> 'accepted_by_type' ->> 'metric')::bigint,
            (receipt -> 'accepted_by_type' ->> 'trace')::bigint,
            this_otlp)
    ON CONFLICT ON CONSTRAINT tenant_usage_daily_pkey DO UPDATE SET
        batches = u.batches + 1,
        accepted = u.accepted + EXCLUDED.accepted,
        duplicates = u.duplicates + EXCLUDED.duplicates,
        logs = u.logs + EXCLUDED.logs,
        metrics = u.metrics + EXCLUDED.metrics,
        traces = u.traces + EXCLUDED.traces,
        otlp = u.otlp + EXCLUDED.otlp;
    RETURN NULL;
END
$$;
