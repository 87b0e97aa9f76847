-- Subscriptions, the events they matched, delivery jobs, rate buckets and CAP alerts.

CREATE TABLE subscriptions (
    id uuid PRIMARY KEY,
    owner text NOT NULL,
    owner_role text NOT NULL,
    channel text NOT NULL CHECK (channel IN ('WEBHOOK', 'EMAIL', 'SMS')),
    address text NOT NULL,
    language text NOT NULL DEFAULT 'vi' CHECK (language IN ('vi', 'en')),
    secret_encrypted bytea,
    description text NOT NULL DEFAULT '',
    event_types text[] NOT NULL DEFAULT '{}',
    categories text[] NOT NULL DEFAULT '{}',
    min_priority integer NOT NULL DEFAULT 0,
    area jsonb,
    agencies integer[] NOT NULL DEFAULT '{}',
    districts text[] NOT NULL DEFAULT '{}',
    incident_id text NOT NULL DEFAULT '',
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_owner ON subscriptions (owner, created_at);
CREATE INDEX subscriptions_incident ON subscriptions (incident_id) WHERE active AND incident_id <> '';

-- Citizens who reported an incident (from IncidentReported/IncidentMerged): who may follow it.
CREATE TABLE incident_followers (
    incident_id text NOT NULL,
    subject text NOT NULL,
    PRIMARY KEY (incident_id, subject)
);

-- One row per source event that matched at least one subscription: the facts the templates render.
CREATE TABLE notices (
    event_id text PRIMARY KEY,
    event_type text NOT NULL,
    source_topic text NOT NULL,
    occurred_at timestamptz NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deliveries (
    id uuid PRIMARY KEY,
    subscription_id uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    event_id text NOT NULL REFERENCES notices (event_id),
    event_type text NOT NULL,
    source_topic text NOT NULL,
    channel text NOT NULL,
    language text NOT NULL,
    status text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    last_error text NOT NULL DEFAULT '',
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until timestamptz,
    sent_at timestamptz,
    parts integer NOT NULL DEFAULT 0,
    rate_checked boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The guarantee: one event never produces two deliveries to the same subscription.
    CONSTRAINT deliveries_once UNIQUE (event_id, subscription_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('PENDING', 'FAILED');
CREATE INDEX deliveries_subscription ON deliveries (subscription_id, created_at DESC);
CREATE INDEX deliveries_created ON deliveries (created_at DESC, id DESC);

-- Token bucket per recipient (channel + normalised address).
CREATE TABLE rate_buckets (
    recipient text PRIMARY KEY,
    tokens double precision NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE cap_alerts (
    id uuid PRIMARY KEY,
    identifier text NOT NULL UNIQUE,
    sender text NOT NULL,
    status text NOT NULL,
    msg_type text NOT NULL,
    scope text NOT NULL,
    restriction text NOT NULL DEFAULT '',
    addresses text NOT NULL DEFAULT '',
    "references" text[] NOT NULL DEFAULT '{}',
    state text NOT NULL,
    author text NOT NULL,
    approver text NOT NULL DEFAULT '',
    infos jsonb NOT NULL,
    note text NOT NULL DEFAULT '',
    incident_id text NOT NULL DEFAULT '',
    supersedes_id uuid REFERENCES cap_alerts (id),
    sent_at timestamptz,
    xml text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cap_alerts_created ON cap_alerts (created_at DESC, id DESC);
