-- +goose Up
-- Products: what a platform sells keys for, each with its key format,
-- scope catalogue, route scopes and limits. The default product comes
-- from the KEYPLANE_* variables and has no row; every key made before
-- products existed belongs to it.
CREATE TABLE products (
    slug                 text PRIMARY KEY,
    name                 text NOT NULL,
    key_format           text NOT NULL,
    lead                 text NOT NULL UNIQUE,
    scopes               text NOT NULL DEFAULT '',
    route_scopes         text NOT NULL DEFAULT '',
    public_keys          boolean NOT NULL DEFAULT false,
    max_keys_per_org     integer NOT NULL,
    public_rate_limit    integer NOT NULL,
    public_block_minutes integer NOT NULL,
    api_url              text NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);

ALTER TABLE api_keys ADD COLUMN product text NOT NULL DEFAULT 'default';
ALTER TABLE api_keys ADD COLUMN source text NOT NULL DEFAULT 'generated';
CREATE INDEX api_keys_org_product_idx ON api_keys (org_id, product);

-- +goose Down
DROP INDEX api_keys_org_product_idx;
ALTER TABLE api_keys DROP COLUMN source;
ALTER TABLE api_keys DROP COLUMN product;
DROP TABLE products;
