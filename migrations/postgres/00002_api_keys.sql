-- +goose Up
CREATE TABLE api_keys (
    id                    uuid PRIMARY KEY,
    org_id                uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    key_hash              bytea NOT NULL UNIQUE,
    hint                  text NOT NULL,
    description           text NOT NULL,
    kind                  text NOT NULL CHECK (kind IN ('private', 'public')),
    environment           text NOT NULL CHECK (environment IN ('live', 'test')),
    scopes                text NOT NULL DEFAULT '',
    domains               text NOT NULL DEFAULT '',
    ips                   text NOT NULL DEFAULT '',
    rate_limit_per_minute integer,
    block_minutes         integer,
    expires_at            timestamptz,
    created_by_id         uuid REFERENCES users (id) ON DELETE SET NULL,
    created_by_email      text NOT NULL DEFAULT '',
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    last_used_at          timestamptz,
    last_used_ip          text NOT NULL DEFAULT '',
    last_used_origin      text NOT NULL DEFAULT '',
    revoked_at            timestamptz,
    revoked_by_id         uuid REFERENCES users (id) ON DELETE SET NULL,
    replaces_id           uuid REFERENCES api_keys (id) ON DELETE SET NULL,
    replaced_by_id        uuid REFERENCES api_keys (id) ON DELETE SET NULL,
    grace_until           timestamptz,
    form_token            text,
    UNIQUE (org_id, form_token)
);
CREATE INDEX api_keys_org_created_idx ON api_keys (org_id, created_at DESC);

-- +goose Down
DROP TABLE api_keys;
