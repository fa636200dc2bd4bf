-- +goose Up
-- Idempotency-Key records of the management API's create and rotate. A
-- request claims (credential, idempotency_key) under the unique key before
-- it creates anything; key_id is set in the transaction that creates the
-- key, so a claim without one is a request still running (or one that died,
-- which a later request may take over). Records are kept 24 hours.
CREATE TABLE api_idempotency (
    credential_id   text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash    bytea NOT NULL,
    key_id          uuid,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (credential_id, idempotency_key)
);
CREATE INDEX api_idempotency_created_idx ON api_idempotency (created_at);

-- +goose Down
DROP TABLE api_idempotency;
