-- +goose Up
-- Organization webhooks. An endpoint's signing secret is kept sealed with
-- KEYPLANE_ENCRYPTION_KEY, never in clear; events is a JSON array of the
-- event types it wants, or ["*"] for every one; a paused endpoint gets no
-- new deliveries and its pending ones wait.
CREATE TABLE webhook_endpoints (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url         text NOT NULL,
    description text NOT NULL DEFAULT '',
    events      text NOT NULL,
    secret      bytea NOT NULL,
    paused_at   timestamptz,
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_org_id_idx ON webhook_endpoints (org_id, created_at);

-- The outbox: one delivery per endpoint per event, written in the
-- transaction of the change it announces. id is the webhook-id header
-- (msg_...). A dispatcher claims a due pending delivery by moving
-- next_attempt_at forward by its lease and setting lease_id; the attempt's
-- result is written only under that lease. retries_left counts the retries
-- the schedule still allows.
CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    org_id           uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    event_type       text NOT NULL,
    payload          text NOT NULL,
    status           text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    retries_left     integer NOT NULL,
    next_attempt_at  timestamptz,
    lease_id         text,
    last_status_code integer,
    last_error       text NOT NULL DEFAULT '',
    last_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
-- The newest delivery of each endpoint of an organization (the webhooks page),
-- and the finished ones old enough to prune.
CREATE INDEX webhook_deliveries_org_idx ON webhook_deliveries (org_id, endpoint_id, id);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);

-- Each attempt of a delivery: when, how long, the response code and the
-- outcome (succeeded, failed, refused). Only the newest few per delivery
-- are kept.
CREATE TABLE webhook_attempts (
    id          bigserial PRIMARY KEY,
    delivery_id text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    duration_ms integer NOT NULL,
    status_code integer,
    outcome     text NOT NULL,
    error       text NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
