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

-- +goose Down
DROP TABLE usage_daily;
