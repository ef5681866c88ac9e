-- Alerting state kept in Postgres. Each table is written by one event processor together
-- with that processor's position in processor_checkpoints, in one transaction, so the
-- state always matches the events applied.

CREATE TABLE processor_checkpoints
(
    name           text PRIMARY KEY,
    transaction_id xid8        NOT NULL,
    position       bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The rule catalog: a projection of the AlertRule events (processor "alert_rules").
CREATE TABLE alert_rules
(
    rule_id    text PRIMARY KEY,
    tenant_id  text        NOT NULL,
    definition jsonb       NOT NULL,
    enabled    boolean     NOT NULL,
    version    bigint      NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX alert_rules_tenant ON alert_rules (tenant_id, created_at);

-- The evaluator's windows, one row per rule and series (processor "alerts").
CREATE TABLE alert_windows
(
    rule_id    text  NOT NULL,
    series     text  NOT NULL,
    state      jsonb NOT NULL,
    PRIMARY KEY (rule_id, series)
);

-- The notification outbox (processor "notifications", then the delivery workers).
CREATE TABLE notification_deliveries
(
    id              text PRIMARY KEY,
    notification_id text        NOT NULL,
    tenant_id       text        NOT NULL,
    channel         jsonb       NOT NULL,
    body            text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX notification_deliveries_dead ON notification_deliveries (tenant_id, updated_at)
    WHERE status = 'dead';
