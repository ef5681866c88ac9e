-- The tenant's API keys as a list: a projection of the ApiKey events (processor "api_keys"),
-- written together with the processor's checkpoint. Keys themselves are never stored: the
-- ApiKey aggregate holds their digests, and this list holds neither.
CREATE TABLE api_keys
(
    key_id     text PRIMARY KEY,
    tenant_id  text        NOT NULL,
    label      text        NOT NULL,
    issued_at  timestamptz NOT NULL,
    issued_by  text        NOT NULL,
    revoked_at timestamptz,
    revoked_by text
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, issued_at DESC);
