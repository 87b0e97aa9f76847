-- Contacts of the supervisors' duty roster (config/roster.yaml) are stored as subscriptions of kind
-- ROSTER: inactive, so no ordinary event matches them and ListSubscriptions hides them; only the
-- SLA-breach notices for the supervisor on duty are delivered to them (roster/breach.py).
ALTER TABLE subscriptions ADD COLUMN kind text NOT NULL DEFAULT 'SUBSCRIPTION'
    CHECK (kind IN ('SUBSCRIPTION', 'ROSTER'));
