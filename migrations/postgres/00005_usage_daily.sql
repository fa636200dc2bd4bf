-- +goose Up
-- Requests per key, UTC day and outcome: usage_hourly rolled up as it is
-- written, so organization-wide views read a day's row instead of 24 hours
-- of rows per scope.
CREATE TABLE usage_daily (
    key_id  uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    org_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day     timestamptz NOT NULL,
    outcome text NOT NULL,
    count   bigint NOT NULL,
    PRIMARY KEY (key_id, day, outcome)
);
CREATE INDEX usage_daily_org_day_idx ON usage_daily (org_id, day);

INSERT INTO usage_daily (key_id, org_id, day, outcome, count)
SELECT key_id, org_id, date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', outcome, SUM(count)
FROM usage_hourly
GROUP BY 1, 2, 3, 4;

-- +goose Down
DROP TABLE usage_daily;
