-- +goose Up
-- Imported keys: a platform's existing keys, stored by hash like any
-- other, with the platform's own id for them. Keys of a legacy prefix (a
-- vendor's old format, without Keyplane's checksum) are looked up by hash.
ALTER TABLE api_keys ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
CREATE TABLE legacy_prefixes (
    prefix     TEXT PRIMARY KEY,
    product    TEXT NOT NULL,
    created_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE legacy_prefixes;
ALTER TABLE api_keys DROP COLUMN external_id;
