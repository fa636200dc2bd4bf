-- +goose Up
-- Products: what a platform sells keys for, each with its key format,
-- scope catalogue, route scopes and limits. The default product comes
-- from the KEYPLANE_* variables and has no row; every key made before
-- products existed belongs to it.
CREATE TABLE products (
    slug                 TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    key_format           TEXT NOT NULL,
    lead                 TEXT NOT NULL UNIQUE,
    scopes               TEXT NOT NULL DEFAULT '',
    route_scopes         TEXT NOT NULL DEFAULT '',
    public_keys          BOOLEAN NOT NULL DEFAULT 0,
    max_keys_per_org     INTEGER NOT NULL,
    public_rate_limit    INTEGER NOT NULL,
    public_block_minutes INTEGER NOT NULL,
    api_url              TEXT NOT NULL DEFAULT '',
    created_at           DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL
);

ALTER TABLE api_keys ADD COLUMN product TEXT NOT NULL DEFAULT 'default';
ALTER TABLE api_keys ADD COLUMN source TEXT NOT NULL DEFAULT 'generated';
CREATE INDEX api_keys_org_product_idx ON api_keys (org_id, product);

-- +goose Down
DROP INDEX api_keys_org_product_idx;
ALTER TABLE api_keys DROP COLUMN source;
ALTER TABLE api_keys DROP COLUMN product;
DROP TABLE products;
