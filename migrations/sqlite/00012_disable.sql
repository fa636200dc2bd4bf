-- +goose Up
-- Disabling pauses a key, or every key of an organization, until it is
-- enabled again; unlike revoking it can be undone.
ALTER TABLE api_keys ADD COLUMN disabled_at DATETIME;
-- No REFERENCES here: SQLite cannot drop a column that has one, and users
-- are disabled, never deleted.
ALTER TABLE api_keys ADD COLUMN disabled_by_id TEXT;
ALTER TABLE organizations ADD COLUMN disabled_at DATETIME;

-- +goose Down
ALTER TABLE organizations DROP COLUMN disabled_at;
ALTER TABLE api_keys DROP COLUMN disabled_by_id;
ALTER TABLE api_keys DROP COLUMN disabled_at;
