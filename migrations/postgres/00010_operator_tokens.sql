-- +goose Up
-- Operator tokens: the credentials of the operator API. Only the SHA-256 of
-- a token is kept; last_used_at and last_used_ip are written at most once a
-- minute per token.
CREATE TABLE operator_tokens (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL UNIQUE,
    hint         text NOT NULL,
    expires_at   timestamptz,
    ips          text NOT NULL DEFAULT '',
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    last_used_ip text NOT NULL DEFAULT '',
    revoked_at   timestamptz
);
CREATE INDEX operator_tokens_created_idx ON operator_tokens (created_at);

-- +goose Down
DROP TABLE operator_tokens;
