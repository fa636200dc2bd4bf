-- +goose Up
CREATE TABLE invites (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email         text NOT NULL CHECK (email = lower(email)),
    role          text NOT NULL CHECK (role IN ('admin', 'member')),
    token_hash    bytea NOT NULL UNIQUE,
    created_by_id uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX invites_org_id_idx ON invites (org_id, created_at);

-- +goose Down
DROP TABLE invites;
