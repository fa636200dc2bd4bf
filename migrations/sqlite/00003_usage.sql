-- +goose Up
CREATE TABLE usage_hourly (
    key_id  TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    org_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    hour    DATETIME NOT NULL,
    outcome TEXT NOT NULL,
    scope   TEXT NOT NULL DEFAULT '',
    count   INTEGER NOT NULL,
    PRIMARY KEY (key_id, hour, outcome, scope)
);
CREATE INDEX usage_hourly_org_hour_idx ON usage_hourly (org_id, hour);

-- Every change that may alter a key's verification, so that other
-- processes drop it from their caches.
CREATE TABLE key_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash   BLOB NOT NULL,
    created_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE key_changes;
DROP TABLE usage_hourly;
