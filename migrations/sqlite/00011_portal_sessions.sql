-- +goose Up
-- Portal links: single-use sign-in links the operator API makes for a
-- member of one organization. Only the SHA-256 of a link's token is kept.
-- A session started from one is marked with its organization and the
-- address its "Back to ..." link leads to.
CREATE TABLE portal_links (
    id         TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    return_url TEXT NOT NULL,
    token_id   TEXT,
    token_name TEXT NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME
);
CREATE INDEX portal_links_expires_at_idx ON portal_links (expires_at);

ALTER TABLE sessions ADD COLUMN portal_org_id TEXT REFERENCES organizations (id) ON DELETE CASCADE;
ALTER TABLE sessions ADD COLUMN portal_return_url TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sessions DROP COLUMN portal_return_url;
ALTER TABLE sessions DROP COLUMN portal_org_id;
DROP TABLE portal_links;
