-- Idempotency of TransitionIncident and AddNote (the console's offline outbox replays them): a key
-- the caller sent, scoped to its subject, is applied once; a replay answers with the incident as it
-- is now instead of a second note or a stale-version error. ReportIncident keeps its key on reports.
CREATE TABLE request_keys (
    key text PRIMARY KEY,              -- "<subject>\x1f<caller's key>"
    method text NOT NULL,              -- TransitionIncident | AddNote
    incident_id uuid NOT NULL REFERENCES incidents (id),
    version bigint NOT NULL,           -- the incident's version the request produced
    created_at timestamptz NOT NULL
);
CREATE INDEX request_keys_created ON request_keys (created_at);
