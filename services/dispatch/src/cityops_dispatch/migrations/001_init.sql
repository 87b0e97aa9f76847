-- Dispatch schema: agencies, stations, units (with their H3 cell), dispatch's own view of
-- incidents (built from cityops.incidents.events.v1), slots (what an incident needs) and
-- assignments (which unit fills a slot).

CREATE TABLE agencies (
    agency smallint PRIMARY KEY,            -- cityops.common.v1.Agency value
    code text NOT NULL UNIQUE,              -- e.g. MEDICAL_115
    name_vi text NOT NULL,
    name_en text NOT NULL,
    hotline text NOT NULL DEFAULT ''
);

CREATE TABLE stations (
    id text PRIMARY KEY,
    name text NOT NULL,
    agency smallint NOT NULL,
    district text NOT NULL,
    lat double precision NOT NULL,
    lon double precision NOT NULL,
    address text NOT NULL DEFAULT ''
);

CREATE TABLE units (
    id text PRIMARY KEY,
    call_sign text NOT NULL UNIQUE,
    agency smallint NOT NULL,
    capabilities text[] NOT NULL,
    unit_type text NOT NULL,
    status smallint NOT NULL DEFAULT 1,
    station_id text,
    station_name text NOT NULL DEFAULT '',
    station_lat double precision,
    station_lon double precision,
    district text NOT NULL DEFAULT '',
    lat double precision NOT NULL,
    lon double precision NOT NULL,
    address text NOT NULL DEFAULT '',
    h3_cell bigint NOT NULL,                -- resolution 7, recomputed on every position change
    heading_deg double precision NOT NULL DEFAULT 0,
    speed_kmh double precision NOT NULL DEFAULT 0,
    location_updated_at timestamptz,
    active_assignment_id text,
    active_incident_id text,
    version bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- The candidate search reads AVAILABLE units cell by cell, never the whole table.
CREATE INDEX units_available_by_cell ON units (h3_cell) WHERE status = 1;
CREATE INDEX units_capabilities ON units USING gin (capabilities);

CREATE TABLE incidents_view (
    id text PRIMARY KEY,
    number text NOT NULL DEFAULT '',
    category smallint NOT NULL DEFAULT 0,
    subcategory text NOT NULL DEFAULT '',
    priority smallint NOT NULL DEFAULT 0,
    status smallint NOT NULL DEFAULT 0,
    description text NOT NULL DEFAULT '',
    lat double precision NOT NULL,
    lon double precision NOT NULL,
    address text NOT NULL DEFAULT '',
    agency smallint NOT NULL DEFAULT 0,
    district text NOT NULL DEFAULT '',
    version bigint NOT NULL DEFAULT 0,
    snapshot bytea NOT NULL,                -- the latest cityops.incidents.v1.Incident
    planned boolean NOT NULL DEFAULT false, -- auto-dispatch created its slots already
    eido_id text,                           -- external_ids["eido"]: the id of an imported EIDO
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incidents_view_eido ON incidents_view (eido_id) WHERE eido_id IS NOT NULL;

CREATE TABLE incident_notes (
    incident_id text NOT NULL,
    note_id text NOT NULL,
    text text NOT NULL,
    author text NOT NULL DEFAULT '',
    added_at timestamptz NOT NULL,
    PRIMARY KEY (incident_id, note_id)
);

CREATE TABLE slots (
    id text PRIMARY KEY,
    incident_id text NOT NULL,
    capability text NOT NULL,
    run_card text NOT NULL DEFAULT '',
    status text NOT NULL CHECK (status IN ('OPEN', 'FILLED', 'DONE', 'CANCELLED')),
    assignment_id text,
    attempts integer NOT NULL DEFAULT 0,
    auto boolean NOT NULL DEFAULT true,
    waiting_since timestamptz,              -- set while OPEN with no candidate; cleared when filled
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slots_by_incident ON slots (incident_id);
CREATE INDEX slots_open ON slots (created_at) WHERE status = 'OPEN';

CREATE TABLE assignments (
    id text PRIMARY KEY,
    incident_id text NOT NULL,
    slot_id text REFERENCES slots (id),
    unit_id text NOT NULL REFERENCES units (id),
    status smallint NOT NULL,
    capability text NOT NULL DEFAULT '',
    run_card text NOT NULL DEFAULT '',
    attempt integer NOT NULL DEFAULT 1,
    auto boolean NOT NULL DEFAULT false,
    distance_m double precision NOT NULL DEFAULT 0,
    eta_seconds double precision NOT NULL DEFAULT 0,
    reason text NOT NULL DEFAULT '',
    call_sign text NOT NULL DEFAULT '',
    incident_number text NOT NULL DEFAULT '',
    assigned_by_subject text NOT NULL DEFAULT '',
    assigned_by_role text NOT NULL DEFAULT '',
    replaces_assignment_id text,
    assigned_at timestamptz NOT NULL DEFAULT now(),
    ack_deadline timestamptz NOT NULL,
    acknowledged_at timestamptz,
    en_route_at timestamptz,
    on_scene_at timestamptz,
    ended_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- THE invariant: a unit is never on two active assignments (ASSIGNED, ACKNOWLEDGED, EN_ROUTE, ON_SCENE).
CREATE UNIQUE INDEX assignments_one_active_per_unit ON assignments (unit_id) WHERE status IN (1, 2, 3, 4);
CREATE INDEX assignments_by_incident ON assignments (incident_id, assigned_at);
CREATE INDEX assignments_ack_due ON assignments (ack_deadline) WHERE status = 1;

-- EIDO documents imported from external CADs: which incident each became, and which of its notes
-- were already added (so a re-sent document neither creates a second incident nor repeats notes).
CREATE TABLE eido_imports (
    eido_id text PRIMARY KEY,
    incident_id text NOT NULL,
    incident_number text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE eido_import_notes (
    eido_id text NOT NULL,
    note_hash text NOT NULL,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (eido_id, note_hash)
);
