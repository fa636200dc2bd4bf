-- +goose Up
-- Disabling pauses a key, or every key of an organization, until it is
-- enabled again; unlike revoking it can be undone.
ALTER TABLE api_keys ADD COLUMN disabled_at timestamptz;
ALTER TABLE api_keys ADD COLUMN disabled_by_id uuid REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE organizations ADD COLUMN disabled_at timestamptz;

-- +goose Down
ALTER TABLE organizations DROP COLUMN disabled_at;
ALTER TABLE api_keys DROP COLUMN disabled_by_id;
ALTER TABLE api_keys DROP COLUMN disabled_at;
