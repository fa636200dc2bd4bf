-- +goose Up
-- Where each key is used: per UTC day, the client addresses (kind 'ip') and
-- the web origins (kind 'origin') its requests came from, with counts and
-- the last time seen. Written with the usage counts, never per request;
-- each key has at most a bounded number of rows per day and kind, and what
-- does not fit is counted under the value '' (other sources).
CREATE TABLE usage_sources (
    key_id    TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    org_id    TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day       DATETIME NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('ip', 'origin')),
    value     TEXT NOT NULL,
    count     INTEGER NOT NULL,
    last_seen DATETIME NOT NULL,
    PRIMARY KEY (key_id, day, kind, value)
);
CREATE INDEX usage_sources_day_idx ON usage_sources (day);

-- +goose Down
DROP TABLE usage_sources;
