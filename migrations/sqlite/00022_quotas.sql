-- +goose Up
-- Quotas: a key, or a whole organization (shared by its keys), may allow
-- quota_limit requests per UTC day ('day') or month ('month'), or hold a
-- balance of quota_limit credits ('credits'), set to quota_refill_amount
-- (NULL: quota_limit) every quota_refill_seconds (NULL: never) counted from
-- quota_anchor. Credits an
-- admin adds (quota_topup) count in the period starting at
-- quota_topup_period only. quota_report_only lets an over-quota request
-- through and counts it as would_quota_exceeded.
ALTER TABLE organizations ADD COLUMN quota_kind TEXT CHECK (quota_kind IN ('day', 'month', 'credits'));
ALTER TABLE organizations ADD COLUMN quota_limit INTEGER CHECK (quota_limit BETWEEN 1 AND 1000000000000);
ALTER TABLE organizations ADD COLUMN quota_refill_seconds INTEGER CHECK (quota_refill_seconds BETWEEN 60 AND 31622400);
ALTER TABLE organizations ADD COLUMN quota_refill_amount INTEGER CHECK (quota_refill_amount BETWEEN 1 AND 1000000000000);
ALTER TABLE organizations ADD COLUMN quota_anchor DATETIME;
ALTER TABLE organizations ADD COLUMN quota_topup INTEGER NOT NULL DEFAULT 0 CHECK (quota_topup BETWEEN 0 AND 1000000000000);
ALTER TABLE organizations ADD COLUMN quota_topup_period DATETIME;
ALTER TABLE organizations ADD COLUMN quota_report_only BOOLEAN NOT NULL DEFAULT 0;

ALTER TABLE api_keys ADD COLUMN quota_kind TEXT CHECK (quota_kind IN ('day', 'month', 'credits'));
ALTER TABLE api_keys ADD COLUMN quota_limit INTEGER CHECK (quota_limit BETWEEN 1 AND 1000000000000);
ALTER TABLE api_keys ADD COLUMN quota_refill_seconds INTEGER CHECK (quota_refill_seconds BETWEEN 60 AND 31622400);
ALTER TABLE api_keys ADD COLUMN quota_refill_amount INTEGER CHECK (quota_refill_amount BETWEEN 1 AND 1000000000000);
ALTER TABLE api_keys ADD COLUMN quota_anchor DATETIME;
ALTER TABLE api_keys ADD COLUMN quota_topup INTEGER NOT NULL DEFAULT 0 CHECK (quota_topup BETWEEN 0 AND 1000000000000);
ALTER TABLE api_keys ADD COLUMN quota_topup_period DATETIME;
-- The id a key's quota is counted under: a rotated key's successor takes
-- its predecessor's, so rotating does not start a fresh quota. NULL: the
-- key's own id.
ALTER TABLE api_keys ADD COLUMN quota_id TEXT;

-- Report-only restrictions: each is enforced unless its flag is set; a
-- request it would refuse is then allowed and counted as would_<code>.
-- One column each, so two admins switching two restrictions at once do
-- not undo each other.
ALTER TABLE api_keys ADD COLUMN report_ips BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN report_domains BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN report_scopes BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN report_rate_limit BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN report_quota BOOLEAN NOT NULL DEFAULT 0;

-- What each quota has spent per period: subject_id is a key's quota id or
-- an organization's id, period_start the start of the day, month or refill
-- period (for credits never refilled, the quota's anchor). Written with the
-- usage counts (spent = spent + what was counted), never per request.
CREATE TABLE quota_spent (
    subject_id   TEXT NOT NULL,
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    period_start DATETIME NOT NULL,
    spent        INTEGER NOT NULL,
    updated_at   DATETIME NOT NULL,
    PRIMARY KEY (subject_id, period_start)
);
CREATE INDEX quota_spent_updated_at_idx ON quota_spent (updated_at);

-- The quota events sent, one row each (key.quota_low at 80%,
-- key.quota_exhausted, and the org.* ones), so each fires once per period
-- whichever replica notices first.
CREATE TABLE quota_notices (
    subject_id   TEXT NOT NULL,
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('low', 'exhausted')),
    period_start DATETIME NOT NULL,
    created_at   DATETIME NOT NULL,
    PRIMARY KEY (subject_id, kind, period_start)
);

-- The addresses of requests a report-only restriction would have refused
-- (kind 'would_ip'), beside the addresses and origins of all requests.
CREATE TABLE usage_sources_new (
    key_id    TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    org_id    TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day       DATETIME NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('ip', 'origin', 'would_ip')),
    value     TEXT NOT NULL,
    count     INTEGER NOT NULL,
    last_seen DATETIME NOT NULL,
    PRIMARY KEY (key_id, day, kind, value)
);
INSERT INTO usage_sources_new SELECT key_id, org_id, day, kind, value, count, last_seen FROM usage_sources;
DROP TABLE usage_sources;
ALTER TABLE usage_sources_new RENAME TO usage_sources;
CREATE INDEX usage_sources_day_idx ON usage_sources (day);

-- +goose Down
CREATE TABLE usage_sources_new (
    key_id    TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    org_id    TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day       DATETIME NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('ip', 'origin')),
    value     TEXT NOT NULL,
    count     INTEGER NOT NULL,
    last_seen DATETIME NOT NULL,
    PRIMARY KEY (key_id, day, kind, value)
);
INSERT INTO usage_sources_new SELECT key_id, org_id, day, kind, value, count, last_seen FROM usage_sources WHERE kind <> 'would_ip';
DROP TABLE usage_sources;
ALTER TABLE usage_sources_new RENAME TO usage_sources;
CREATE INDEX usage_sources_day_idx ON usage_sources (day);
DROP TABLE quota_notices;
DROP TABLE quota_spent;
ALTER TABLE api_keys DROP COLUMN report_quota;
ALTER TABLE api_keys DROP COLUMN report_rate_limit;
ALTER TABLE api_keys DROP COLUMN report_scopes;
ALTER TABLE api_keys DROP COLUMN report_domains;
ALTER TABLE api_keys DROP COLUMN report_ips;
ALTER TABLE api_keys DROP COLUMN quota_id;
ALTER TABLE api_keys DROP COLUMN quota_topup_period;
ALTER TABLE api_keys DROP COLUMN quota_topup;
ALTER TABLE api_keys DROP COLUMN quota_anchor;
ALTER TABLE api_keys DROP COLUMN quota_refill_amount;
ALTER TABLE api_keys DROP COLUMN quota_refill_seconds;
ALTER TABLE api_keys DROP COLUMN quota_limit;
ALTER TABLE api_keys DROP COLUMN quota_kind;
ALTER TABLE organizations DROP COLUMN quota_report_only;
ALTER TABLE organizations DROP COLUMN quota_topup_period;
ALTER TABLE organizations DROP COLUMN quota_topup;
ALTER TABLE organizations DROP COLUMN quota_anchor;
ALTER TABLE organizations DROP COLUMN quota_refill_amount;
ALTER TABLE organizations DROP COLUMN quota_refill_seconds;
ALTER TABLE organizations DROP COLUMN quota_limit;
ALTER TABLE organizations DROP COLUMN quota_kind;
