-- Issue 15 (fusion and lifecycle): split reports out, reopen after resolution, satisfaction ratings.

ALTER TABLE incidents ADD COLUMN reopen_count integer NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN split_from uuid REFERENCES incidents (id);

-- A report moved out by SplitReport keeps its id and idempotency key; it now belongs to the new incident.
ALTER TABLE reports ADD COLUMN split_from uuid REFERENCES incidents (id);
CREATE INDEX reports_reporter ON reports (incident_id, reporter_subject) WHERE reporter_subject <> '';

-- Satisfaction ratings (mức độ hài lòng). Agency and category are those of the incident when it was
-- rated, so the report per agency stays true after a later re-routing. One rating per rater and
-- incident: the reporter's subject, or the nonce of the one-time link (a link is used once).
CREATE TABLE ratings (
    id uuid PRIMARY KEY,
    incident_id uuid NOT NULL REFERENCES incidents (id),
    rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment text NOT NULL DEFAULT '',
    agency text NOT NULL,
    category text NOT NULL,
    channel text NOT NULL CHECK (channel IN ('link', 'reporter')),
    rater text NOT NULL,  -- 'subject:<jwt sub>' or 'link:<nonce>'
    rated_at timestamptz NOT NULL,
    UNIQUE (incident_id, rater)
);
CREATE UNIQUE INDEX ratings_link_once ON ratings (rater) WHERE channel = 'link';
CREATE INDEX ratings_by_time ON ratings (rated_at);
