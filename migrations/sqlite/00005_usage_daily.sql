-- +goose Up
-- Requests per key, UTC day and outcome: usage_hourly rolled up as it is
-- written, so organization-wide views read a day's row instead of 24 hours
-- of rows per scope.
CREATE TABLE usage_daily (
    key_id  TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    org_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day     DATETIME NOT NULL,
    outcome TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (key_id, day, outcome)
);
CREATE INDEX usage_daily_org_day_idx ON usage_daily (org_id, day);

-- Hours are stored as "YYYY-MM-DD hh:mm:ss+00:00" (UTC).
INSERT INTO usage_daily (key_id, org_id, day, outcome, count)
SELECT key_id, org_id, substr(hour, 1, 10) || ' 00:00:00+00:00', outcome, SUM(count)
FROM usage_hourly
GROUP BY 1, 2, 3, 4;

-- Requests per key and hour, whatever the outcome and scope: the keys
-- list sums every key's last 24 hours from these few rows, and the index
-- holds all that read needs.
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

-- +goose Down
DROP TABLE usage_key_hours;
DROP TABLE usage_daily;
