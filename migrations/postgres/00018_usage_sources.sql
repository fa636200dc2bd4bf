-- +goose Up
-- Where each key is used: per UTC day, the client addresses (kind 'ip') and
-- the web origins (kind 'origin') its requests came from, with counts and
-- the last time seen. Written with the usage counts, never per request;
-- each key has at most a bounded number of rows per day and kind, and what
-- does not fit is counted under the value '' (other sources).
CREATE TABLE usage_sources (
    key_id    uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    org_id    uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day       timestamptz NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('ip', 'origin')),
    value     text NOT NULL,
    count     bigint NOT NULL,
    last_seen timestamptz NOT NULL,
    PRIMARY KEY (key_id, day, kind, value)
);
CREATE INDEX usage_sources_day_idx ON usage_sources (day);

-- +goose Down
DROP TABLE usage_sources;
