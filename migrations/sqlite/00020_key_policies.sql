-- +goose Up
-- Key policies of an organization: a maximum key lifetime in days (NULL for
-- none: new, rotated and edited keys must expire within it), an idle period
-- in days (NULL for none: keys unused that long are flagged idle) and
-- whether a key is disabled when it becomes idle.
ALTER TABLE organizations ADD COLUMN max_key_lifetime_days INTEGER
    CHECK (max_key_lifetime_days BETWEEN 1 AND 3650);
ALTER TABLE organizations ADD COLUMN idle_days INTEGER DEFAULT 90
    CHECK (idle_days BETWEEN 1 AND 3650);
ALTER TABLE organizations ADD COLUMN idle_disable BOOLEAN NOT NULL DEFAULT 0;

-- The lifecycle events sent about a key, one row each: key.expiring 7 days
-- and 1 day before its deadline, key.expired at it, key.idle when it
-- became idle. due_at is the deadline (or, for idle, the last use) the
-- event was about, so a key whose expiry moves, or that is used and
-- becomes idle again, is announced again. A replica inserts the row in the
-- transaction that queues the event; a row already there means another
-- replica sent it.
CREATE TABLE key_reminders (
    key_id     TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('expiring_7d', 'expiring_1d', 'expired', 'idle')),
    due_at     DATETIME NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (key_id, kind, due_at)
);

-- What the lifecycle job reads every minute: deadlines in a window, and
-- working keys by their last use.
CREATE INDEX api_keys_expires_at_idx ON api_keys (expires_at) WHERE revoked_at IS NULL AND expires_at IS NOT NULL;
CREATE INDEX api_keys_grace_until_idx ON api_keys (grace_until) WHERE revoked_at IS NULL AND grace_until IS NOT NULL;
CREATE INDEX api_keys_idle_idx ON api_keys ((COALESCE(last_used_at, created_at)))
    WHERE revoked_at IS NULL AND disabled_at IS NULL AND replaced_by_id IS NULL;

-- +goose Down
DROP INDEX api_keys_idle_idx;
DROP INDEX api_keys_grace_until_idx;
DROP INDEX api_keys_expires_at_idx;
DROP TABLE key_reminders;
ALTER TABLE organizations DROP COLUMN idle_disable;
ALTER TABLE organizations DROP COLUMN idle_days;
ALTER TABLE organizations DROP COLUMN max_key_lifetime_days;
