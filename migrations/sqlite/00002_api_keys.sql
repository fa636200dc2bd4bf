-- +goose Up
CREATE TABLE api_keys (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    key_hash              BLOB NOT NULL UNIQUE,
    hint                  TEXT NOT NULL,
    description           TEXT NOT NULL,
    kind                  TEXT NOT NULL CHECK (kind IN ('private', 'public')),
    environment           TEXT NOT NULL CHECK (environment IN ('live', 'test')),
    scopes                TEXT NOT NULL DEFAULT '',
    domains               TEXT NOT NULL DEFAULT '',
    ips                   TEXT NOT NULL DEFAULT '',
    rate_limit_per_minute INTEGER,
    block_minutes         INTEGER,
    expires_at            DATETIME,
    created_by_id         TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_by_email      TEXT NOT NULL DEFAULT '',
    created_at            DATETIME NOT NULL,
    updated_at            DATETIME NOT NULL,
    last_used_at          DATETIME,
    last_used_ip          TEXT NOT NULL DEFAULT '',
    last_used_origin      TEXT NOT NULL DEFAULT '',
    revoked_at            DATETIME,
    revoked_by_id         TEXT REFERENCES users (id) ON DELETE SET NULL,
    replaces_id           TEXT REFERENCES api_keys (id) ON DELETE SET NULL,
    replaced_by_id        TEXT REFERENCES api_keys (id) ON DELETE SET NULL,
    grace_until           DATETIME,
    form_token            TEXT,
    UNIQUE (org_id, form_token)
);
CREATE INDEX api_keys_org_created_idx ON api_keys (org_id, created_at DESC);

-- +goose Down
DROP TABLE api_keys;
