-- +goose Up
-- Requests per key and UTC day, whatever the outcome: the keys list draws
-- every key's last 7 days from one row per key and day, read from the
-- index alone.
CREATE TABLE usage_key_days (
    key_id  uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    org_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day     timestamptz NOT NULL,
    count   bigint NOT NULL,
    PRIMARY KEY (key_id, day)
);
CREATE INDEX usage_key_days_org_day_idx ON usage_key_days (org_id, day) INCLUDE (key_id, count);

INSERT INTO usage_key_days (key_id, org_id, day, count)
SELECT key_id, org_id, day, SUM(count) FROM usage_daily GROUP BY 1, 2, 3;

-- +goose Down
DROP TABLE usage_key_days;
