-- Incidents, their reports (the only place reporter PII lives), notes, the audit timeline,
-- sensor-alert links and the per-day number sequence. Times are UTC (timestamptz).

CREATE TABLE incidents (
    id uuid PRIMARY KEY,
    number text NOT NULL UNIQUE,
    category text NOT NULL,
    subcategory text NOT NULL DEFAULT '',
    priority smallint NOT NULL CHECK (priority BETWEEN 1 AND 4),
    status text NOT NULL,
    description text NOT NULL DEFAULT '',
    lat double precision NOT NULL,
    lon double precision NOT NULL,
    address text NOT NULL DEFAULT '',
    district text NOT NULL DEFAULT '',
    h3_cell text NOT NULL,
    report_count integer NOT NULL DEFAULT 1,
    sources text[] NOT NULL DEFAULT '{}',
    agency text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    occurred_at timestamptz NOT NULL,
    last_report_at timestamptz NOT NULL,
    sla_stage text NOT NULL DEFAULT '',
    sla_due_at timestamptz,
    sla_breaches text[] NOT NULL DEFAULT '{}',
    version bigint NOT NULL DEFAULT 1,
    escalation_level integer NOT NULL DEFAULT 0,
    duplicate_of uuid REFERENCES incidents (id),
    external_ids jsonb NOT NULL DEFAULT '{}',
    open_alert_ids text[] NOT NULL DEFAULT '{}',
    acknowledged_at timestamptz,
    dispatched_at timestamptz,
    resolved_at timestamptz,
    closed_at timestamptz,
    -- number, description, address, subcategory and district, lowercased without diacritics
    search_text text NOT NULL DEFAULT ''
);

CREATE INDEX incidents_open_cell ON incidents (category, h3_cell, last_report_at)
    WHERE status IN ('NEW', 'ACKNOWLEDGED', 'DISPATCHED', 'ON_SCENE');
CREATE INDEX incidents_open_latlon ON incidents (lat, lon)
    WHERE status IN ('NEW', 'ACKNOWLEDGED', 'DISPATCHED', 'ON_SCENE');
CREATE INDEX incidents_newest ON incidents (created_at DESC, id DESC);
CREATE INDEX incidents_sla_due ON incidents (sla_due_at) WHERE sla_due_at IS NOT NULL;

CREATE TABLE reports (
    id uuid PRIMARY KEY,
    incident_id uuid NOT NULL REFERENCES incidents (id),
    idempotency_key text NOT NULL UNIQUE,
    merged boolean NOT NULL,
    distance_m double precision NOT NULL DEFAULT 0,
    source text NOT NULL,
    category text NOT NULL,
    subcategory text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    lat double precision NOT NULL,
    lon double precision NOT NULL,
    address text NOT NULL DEFAULT '',
    reporter_name text NOT NULL DEFAULT '',   -- PII
    reporter_phone text NOT NULL DEFAULT '',  -- PII
    reporter_subject text NOT NULL DEFAULT '',
    sensor_alert_id text NOT NULL DEFAULT '',
    external_ids jsonb NOT NULL DEFAULT '{}',
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX reports_incident ON reports (incident_id, received_at);

CREATE TABLE notes (
    id uuid PRIMARY KEY,
    incident_id uuid NOT NULL REFERENCES incidents (id),
    text text NOT NULL,
    author_subject text NOT NULL,
    author_role text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX notes_incident ON notes (incident_id, created_at);

CREATE TABLE timeline (
    id bigserial PRIMARY KEY,
    incident_id uuid NOT NULL REFERENCES incidents (id),
    at timestamptz NOT NULL,
    actor_subject text NOT NULL,
    actor_role text NOT NULL,
    action text NOT NULL,
    before text NOT NULL DEFAULT '',
    after text NOT NULL DEFAULT '',
    detail text NOT NULL DEFAULT '',
    version bigint NOT NULL,
    event_id text NOT NULL DEFAULT ''
);
CREATE INDEX timeline_incident ON timeline (incident_id, id);

-- A sensor alert linked to the incident it raised or joined; alert_id is stable RAISED → CLEARED.
CREATE TABLE alert_links (
    alert_id text PRIMARY KEY,
    incident_id uuid NOT NULL REFERENCES incidents (id),
    sensor_id text NOT NULL,
    level text NOT NULL,
    raised_at timestamptz NOT NULL,
    cleared_at timestamptz
);

CREATE TABLE number_sequences (
    prefix text NOT NULL,
    day date NOT NULL,
    last_value integer NOT NULL,
    PRIMARY KEY (prefix, day)
);

-- Trigram index for diacritic-free substring search; optional: without pg_trgm, ILIKE still works.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
    EXECUTE 'CREATE INDEX incidents_search_trgm ON incidents USING gin (search_text gin_trgm_ops)';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm unavailable, search without trigram index: %', SQLERRM;
END $$;
