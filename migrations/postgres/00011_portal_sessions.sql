-- +goose Up
-- Portal links: single-use sign-in links the operator API makes for a
-- member of one organization. Only the SHA-256 of a link's token is kept.
-- A session started from one is marked with its organization and the
-- address its "Back to ..." link leads to.
CREATE TABLE portal_links (
    id         uuid PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE,
    org_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    return_url text NOT NULL,
    token_id   uuid,
    token_name text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX portal_links_expires_at_idx ON portal_links (expires_at);

ALTER TABLE sessions ADD COLUMN portal_org_id uuid REFERENCES organizations (id) ON DELETE CASCADE;
ALTER TABLE sessions ADD COLUMN portal_return_url text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sessions DROP COLUMN portal_return_url;
ALTER TABLE sessions DROP COLUMN portal_org_id;
DROP TABLE portal_links;
