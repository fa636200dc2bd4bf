-- +goose Up
-- Two-factor sign-in (TOTP). A user's seed is kept sealed with
-- KEYPLANE_ENCRYPTION_KEY, never in clear; enabled_at stays NULL until the
-- user confirms the seed with a code. last_step is the newest 30-second step
-- accepted, so each code works once. Recovery codes are stored as SHA-256
-- hashes and marked when used.
CREATE TABLE user_totp (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     BLOB NOT NULL,
    created_at DATETIME NOT NULL,
    enabled_at DATETIME,
    last_step  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE recovery_codes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL UNIQUE,
    created_at DATETIME NOT NULL,
    used_at    DATETIME
);
CREATE INDEX recovery_codes_user_id_idx ON recovery_codes (user_id);

-- An organization's admins can require two-factor of every member.
ALTER TABLE organizations ADD COLUMN require_two_factor BOOLEAN NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE organizations DROP COLUMN require_two_factor;
DROP TABLE recovery_codes;
DROP TABLE user_totp;
