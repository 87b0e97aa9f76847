-- EIDO conveyance to partner CADs: one row per (incident or dispatch event, partner). The row's id
-- is the Standard Webhooks webhook-id, derived from the event id and the partner, so a redelivered
-- event never queues a second conveyance and every retry carries the same id.
CREATE TABLE eido_conveyances (
    id text PRIMARY KEY,
    partner text NOT NULL,
    incident_id text NOT NULL,
    event_id text NOT NULL,
    status text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENT', 'DEAD_LETTERED')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text NOT NULL DEFAULT '',
    last_http_status integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);
CREATE INDEX eido_conveyances_due ON eido_conveyances (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX eido_conveyances_by_incident ON eido_conveyances (incident_id, created_at);
