-- Issue 14 (object-level authorization): which units are assigned to which incident, as the
-- incidents worker learns it from cityops.dispatch.events.v1. A field unit may add notes only to an
-- incident its unit is actively assigned to (docs/security.md). One row per assignment; events of
-- one incident arrive in order (the topic is keyed by incident id).
CREATE TABLE unit_assignments (
    assignment_id text PRIMARY KEY,
    incident_id text NOT NULL,  -- as dispatch sent it; AddNote ids are validated UUIDs
    unit_id text NOT NULL,
    active boolean NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX unit_assignments_active ON unit_assignments (incident_id, unit_id) WHERE active;
