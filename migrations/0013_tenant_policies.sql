-- Per-tenant policies chosen by administrators (the TenantPolicy aggregate), projected by the
-- "tenant_policies" processor together with its checkpoint.
--
-- Retention choices per tenant and store (`events`, `minuteRollups`, ...): stores a tenant
-- did not choose follow the configured defaults. Retention maintenance reads this table.
CREATE TABLE tenant_retention
(
    tenant_id text    NOT NULL,
    store     text    NOT NULL,
    days      integer NOT NULL CHECK (days > 0),
    PRIMARY KEY (tenant_id, store)
);

-- A quota an administrator chose outranks the configured one: start-up (TENANT_DAILY_QUOTAS)
-- only writes the rows administrators did not set. A chosen "no quota" is a row without a
-- number, which the usage trigger reads as no quota.
ALTER TABLE tenant_quotas ALTER COLUMN daily_events DROP NOT NULL;
ALTER TABLE tenant_quotas ADD COLUMN chosen boolean NOT NULL DEFAULT false;
