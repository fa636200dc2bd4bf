-- +goose Up
-- Requests per key and hour, whatever the outcome and scope: the keys list
-- sums every key's last 24 hours from these few rows, and the index holds
-- all that read needs.
CREATE TABLE usage_key_hours (
    key_id  TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    org_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    hour    DATETIME NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (key_id, hour)
);
CREATE INDEX usage_key_hours_org_hour_idx ON usage_key_hours (org_id, hour, key_id, count);

INSERT INTO usage_key_hours (key_id, org_id, hour, count)
SELECT key_id, org_id, hour, SUM(count) FROM usage_hourly GROUP BY 1, 2, 3;

-- The organization views and the keys list read usage_daily by org and
-- day for keys, outcomes and counts: all of it from the index.
DROP INDEX usage_daily_org_day_idx;
CREATE INDEX usage_daily_org_day_cover_idx ON usage_daily (org_id, day, key_id, outcome, count);

-- +goose Down
DROP INDEX usage_daily_org_day_cover_idx;
CREATE INDEX usage_daily_org_day_idx ON usage_daily (org_id, day);
DROP TABLE usage_key_hours;
