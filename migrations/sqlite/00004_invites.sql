-- +goose Up
CREATE TABLE invites (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email         TEXT NOT NULL CHECK (email = lower(email)),
    role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    token_hash    BLOB NOT NULL UNIQUE,
    created_by_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at    DATETIME NOT NULL,
    expires_at    DATETIME NOT NULL,
    used_at       DATETIME,
    revoked_at    DATETIME
);
CREATE INDEX invites_org_id_idx ON invites (org_id, created_at);

-- +goose Down
DROP TABLE invites;
