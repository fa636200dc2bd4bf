-- +goose Up
CREATE TABLE usage_hourly (
    key_id  uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    org_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    hour    timestamptz NOT NULL,
    outcome text NOT NULL,
    scope   text NOT NULL DEFAULT '',
    count   bigint NOT NULL,
    PRIMARY KEY (key_id, hour, outcome, scope)
);
CREATE INDEX usage_hourly_org_hour_idx ON usage_hourly (org_id, hour);

-- Every change that may alter a key's verification, so that other
-- processes drop it from their caches.
CREATE TABLE key_changes (
    id         bigserial PRIMARY KEY,
    key_hash   bytea NOT NULL,
    created_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE key_changes;
DROP TABLE usage_hourly;
