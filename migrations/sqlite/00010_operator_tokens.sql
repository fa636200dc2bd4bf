-- +goose Up
-- Operator tokens: the credentials of the operator API. Only the SHA-256 of
-- a token is kept; last_used_at and last_used_ip are written at most once a
-- minute per token.
CREATE TABLE operator_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   BLOB NOT NULL UNIQUE,
    hint         TEXT NOT NULL,
    expires_at   DATETIME,
    ips          TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    last_used_at DATETIME,
    last_used_ip TEXT NOT NULL DEFAULT '',
    revoked_at   DATETIME
);
CREATE INDEX operator_tokens_created_idx ON operator_tokens (created_at);

-- +goose Down
DROP TABLE operator_tokens;
