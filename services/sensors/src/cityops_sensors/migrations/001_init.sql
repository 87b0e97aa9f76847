-- Sensor registry, rules, alert history, live status and 1-minute aggregates.
CREATE TABLE sensors (
    id text PRIMARY KEY,
    kind text NOT NULL,
    name text NOT NULL DEFAULT '',
    lat double precision NOT NULL,
    lon double precision NOT NULL,
    address text NOT NULL DEFAULT '',
    district text NOT NULL,
    unit text NOT NULL,
    reporting_interval_seconds integer NOT NULL CHECK (reporting_interval_seconds > 0),
    labels jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sensors_updated_at ON sensors (updated_at);
CREATE INDEX sensors_kind_district ON sensors (kind, district);

-- Written by the worker: derived status and the latest reading (refreshed once a minute per sensor).
CREATE TABLE sensor_live (
    sensor_id text PRIMARY KEY,
    status text NOT NULL,
    last_seen_at timestamptz,
    last_value double precision,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rules (
    id text PRIMARY KEY,
    kind text NOT NULL,
    sensor_id text NOT NULL DEFAULT '',
    rule_type text NOT NULL,
    direction text NOT NULL,
    warn_level double precision NOT NULL DEFAULT 0,
    critical_level double precision NOT NULL DEFAULT 0,
    hysteresis double precision NOT NULL DEFAULT 0,
    min_duration_seconds integer NOT NULL DEFAULT 0,
    rate_of_change_per_window double precision NOT NULL DEFAULT 0,
    rate_window_seconds integer NOT NULL DEFAULT 0,
    offline_after_intervals integer NOT NULL DEFAULT 0,
    level text NOT NULL DEFAULT 'WARN',
    enabled boolean NOT NULL DEFAULT true,
    description text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rules_kind ON rules (kind, sensor_id);

-- The latest transition of every alert (idempotent on alert_id; once CLEARED it stays cleared).
CREATE TABLE alerts (
    alert_id text PRIMARY KEY,
    sensor_id text NOT NULL,
    kind text NOT NULL,
    rule_id text NOT NULL,
    state text NOT NULL,
    level text NOT NULL,
    raised_at timestamptz NOT NULL,
    cleared_at timestamptz,
    payload bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_raised ON alerts (raised_at DESC);
CREATE INDEX alerts_active ON alerts (raised_at DESC) WHERE state = 'RAISED';
CREATE INDEX alerts_sensor ON alerts (sensor_id, raised_at DESC);

CREATE TABLE aggregates (
    sensor_id text NOT NULL,
    window_start timestamptz NOT NULL,
    window_seconds integer NOT NULL,
    count bigint NOT NULL,
    min double precision NOT NULL,
    max double precision NOT NULL,
    mean double precision NOT NULL,
    sum double precision NOT NULL,
    last double precision NOT NULL,
    PRIMARY KEY (sensor_id, window_start)
);
