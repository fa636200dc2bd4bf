-- +goose Up
-- Rotation that knows its traffic: a rotation may ask to end the old key's
-- grace period early once the old key has had no request for an hour.
-- grace_quiet_from is then the rotation's time (the quiet hour counts
-- from the later of it and last_used_at); NULL when the rule is off.
ALTER TABLE api_keys ADD COLUMN grace_quiet_from DATETIME;
CREATE INDEX api_keys_grace_quiet ON api_keys (grace_until) WHERE grace_quiet_from IS NOT NULL;

-- +goose Down
DROP INDEX api_keys_grace_quiet;
ALTER TABLE api_keys DROP COLUMN grace_quiet_from;
