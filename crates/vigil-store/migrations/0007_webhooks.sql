-- Outgoing webhooks and their delivery log.
--
-- A webhook's URL may carry credentials and its signing secret must be recoverable to
-- sign, so both are stored sealed (XChaCha20-Poly1305 under keys derived from
-- `secret_key`); the redacted URL is kept beside for listings. `event_types` is a JSON
-- array of type prefixes (`["violation.", "camera.state"]`).
CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    url_sealed    TEXT NOT NULL,
    url_redacted  TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    event_types   TEXT NOT NULL,
    enabled       BIGINT NOT NULL DEFAULT 1,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- One row per (webhook, event): the unique key makes delivery exactly-once even when
-- several instances see the same event. `body` is the exact JSON sent, so every retry
-- sends (and signs) the same bytes after the event itself has aged out of `events`.
-- `next_attempt_at` is NULL once delivered or given up; a sender claims a row by moving
-- it forward (a lease), so two instances never post the same attempt.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        BIGINT NOT NULL,
    event_type      TEXT NOT NULL,
    body            TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_status     BIGINT,
    last_error      TEXT,
    next_attempt_at BIGINT,
    delivered_at    BIGINT,
    created_at      BIGINT NOT NULL,
    UNIQUE (webhook_id, event_id)
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, created_at);

-- The last event id the webhook dispatcher has turned into deliveries: after a restart
-- it resumes from the event table there, so no event falls between two runs.
CREATE TABLE webhook_cursor (
    singleton     BIGINT PRIMARY KEY,
    last_event_id BIGINT NOT NULL
);
