-- +goose Up
-- Leaked keys: when and where a key was found in public (reported by
-- GitHub's secret scanning or the platform's own scanners), kept on the key
-- so its page and row can say so. An organization's leak policy decides
-- what else happens: 'notify' (the default) or 'disable'.
ALTER TABLE api_keys ADD COLUMN leaked_at DATETIME;
ALTER TABLE api_keys ADD COLUMN leaked_url TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN leaked_source TEXT NOT NULL DEFAULT '';
ALTER TABLE organizations ADD COLUMN leak_policy TEXT NOT NULL DEFAULT 'notify'
    CHECK (leak_policy IN ('notify', 'disable'));

-- +goose Down
ALTER TABLE organizations DROP COLUMN leak_policy;
ALTER TABLE api_keys DROP COLUMN leaked_source;
ALTER TABLE api_keys DROP COLUMN leaked_url;
ALTER TABLE api_keys DROP COLUMN leaked_at;
