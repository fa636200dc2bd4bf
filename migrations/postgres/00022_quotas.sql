-- +goose Up
-- Quotas: a key, or a whole organization (shared by its keys), may allow
-- quota_limit requests per UTC day ('day') or month ('month'), or hold a
-- balance of quota_limit credits ('credits'), set to quota_refill_amount
-- (NULL: quota_limit) every quota_refill_seconds (NULL: never) counted from
-- quota_anchor. Credits an
-- admin adds (quota_topup) count in the period starting at
-- quota_topup_period only. quota_report_only lets an over-quota request
-- through and counts it as would_quota_exceeded.
ALTER TABLE organizations ADD COLUMN quota_kind text CHECK (quota_kind IN ('day', 'month', 'credits'));
ALTER TABLE organizations ADD COLUMN quota_limit bigint CHECK (quota_limit BETWEEN 1 AND 1000000000000);
ALTER TABLE organizations ADD COLUMN quota_refill_seconds integer CHECK (quota_refill_seconds BETWEEN 60 AND 31622400);
ALTER TABLE organizations ADD COLUMN quota_refill_amount bigint CHECK (quota_refill_amount BETWEEN 1 AND 1000000000000);
ALTER TABLE organizations ADD COLUMN quota_anchor timestamptz;
ALTER TABLE organizations ADD COLUMN quota_topup bigint NOT NULL DEFAULT 0 CHECK (quota_topup BETWEEN 0 AND 1000000000000);
ALTER TABLE organizations ADD COLUMN quota_topup_period timestamptz;
ALTER TABLE organizations ADD COLUMN quota_report_only boolean NOT NULL DEFAULT false;

ALTER TABLE api_keys ADD COLUMN quota_kind text CHECK (quota_kind IN ('day', 'month', 'credits'));
ALTER TABLE api_keys ADD COLUMN quota_limit bigint CHECK (quota_limit BETWEEN 1 AND 1000000000000);
ALTER TABLE api_keys ADD COLUMN quota_refill_seconds integer CHECK (quota_refill_seconds BETWEEN 60 AND 31622400);
ALTER TABLE api_keys ADD COLUMN quota_refill_amount bigint CHECK (quota_refill_amount BETWEEN 1 AND 1000000000000);
ALTER TABLE api_keys ADD COLUMN quota_anchor timestamptz;
ALTER TABLE api_keys ADD COLUMN quota_topup bigint NOT NULL DEFAULT 0 CHECK (quota_topup BETWEEN 0 AND 1000000000000);
ALTER TABLE api_keys ADD COLUMN quota_topup_period timestamptz;
-- The id a key's quota is counted under: a rotated key's successor takes
-- its predecessor's, so rotating does not start a fresh quota. NULL: the
-- key's own id.
ALTER TABLE api_keys ADD COLUMN quota_id uuid;

-- Report-only restrictions: each is enforced unless its flag is set; a
-- request it would refuse is then allowed and counted as would_<code>.
-- One column each, so two admins switching two restrictions at once do
-- not undo each other.
ALTER TABLE api_keys ADD COLUMN report_ips boolean NOT NULL DEFAULT false;
ALTER TABLE api_keys ADD COLUMN report_domains boolean NOT NULL DEFAULT false;
ALTER TABLE api_keys ADD COLUMN report_scopes boolean NOT NULL DEFAULT false;
ALTER TABLE api_keys ADD COLUMN report_rate_limit boolean NOT NULL DEFAULT false;
ALTER TABLE api_keys ADD COLUMN report_quota boolean NOT NULL DEFAULT false;

-- What each quota has spent per period: subject_id is a key's quota id or
-- an organization's id, period_start the start of the day, month or refill
-- period (for credits never refilled, the quota's anchor). Written with the
-- usage counts (spent = spent + what was counted), never per request.
CREATE TABLE quota_spent (
    subject_id   uuid NOT NULL,
    org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    period_start timestamptz NOT NULL,
    spent        bigint NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (subject_id, period_start)
);
CREATE INDEX quota_spent_updated_at_idx ON quota_spent (updated_at);

-- The quota events sent, one row each (key.quota_low at 80%,
-- key.quota_exhausted, and the org.* ones), so each fires once per period
-- whichever replica notices first.
CREATE TABLE quota_notices (
    subject_id   uuid NOT NULL,
    org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('low', 'exhausted')),
    period_start timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (subject_id, kind, period_start)
);

-- The addresses of requests a report-only restriction would have refused
-- (kind 'would_ip'), beside the addresses and origins of all requests.
ALTER TABLE usage_sources DROP CONSTRAINT usage_sources_kind_check;
ALTER TABLE usage_sources ADD CONSTRAINT usage_sources_kind_check CHECK (kind IN ('ip', 'origin', 'would_ip'));

-- +goose Down
DELETE FROM usage_sources WHERE kind = 'would_ip';
ALTER TABLE usage_sources DROP CONSTRAINT usage_sources_kind_check;
ALTER TABLE usage_sources ADD CONSTRAINT usage_sources_kind_check CHECK (kind IN ('ip', 'origin'));
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
