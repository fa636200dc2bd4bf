-- +goose Up
-- Single sign-on. A user is linked to an identity of an OpenID Connect
-- provider by (issuer, subject); the email is kept as it was when the link
-- was made. The state of each finished sign-in is remembered (as a SHA-256)
-- until it expires, so a replayed callback is refused on every server.
CREATE TABLE user_identities (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issuer       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    email        TEXT NOT NULL,
    created_at   DATETIME NOT NULL,
    last_used_at DATETIME NOT NULL,
    UNIQUE (issuer, subject)
);
CREATE INDEX user_identities_user_id_idx ON user_identities (user_id);

CREATE TABLE oidc_used_states (
    state_hash BLOB PRIMARY KEY,
    expires_at DATETIME NOT NULL
);
CREATE INDEX oidc_used_states_expires_at_idx ON oidc_used_states (expires_at);

-- +goose Down
DROP TABLE oidc_used_states;
DROP TABLE user_identities;
