-- Idempotency of AssignUnit (the console's offline outbox replays a dispatcher's assignment): a key
-- the caller sent, scoped to its subject, is applied once; a replay answers with the assignment the
-- first call made. The row is claimed first (INSERT … ON CONFLICT DO NOTHING, which waits for a
-- concurrent claim of the same key to commit or roll back), so two replays racing assign once.
-- Removed after CITYOPS_DISPATCH_REQUEST_KEY_RETENTION_DAYS by the worker's sweeper.
CREATE TABLE request_keys (
    key text PRIMARY KEY,              -- "<subject>\x1f<caller's key>"
    method text NOT NULL,              -- AssignUnit
    assignment_id text REFERENCES assignments (id),  -- set in the transaction that claimed the key
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX request_keys_created ON request_keys (created_at);
