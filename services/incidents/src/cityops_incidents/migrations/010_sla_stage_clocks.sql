-- SLA clocks per stage (incidents/sla.py): each stage's clock starts when the stage starts, a
-- pre-breach warning once per stage, and a pause (AWAITING_DOSSIER, chờ bổ sung hồ sơ) that
-- keeps the time that was left. Rows written before this migration get their stage start from
-- the milestone that started it; their deadline stays as it was computed (from creation).

ALTER TABLE incidents
    ADD COLUMN sla_started_at timestamptz,
    ADD COLUMN sla_priority smallint,
    ADD COLUMN sla_warn_at timestamptz,
    ADD COLUMN sla_warned text[] NOT NULL DEFAULT '{}',
    ADD COLUMN sla_paused_at timestamptz,
    ADD COLUMN sla_remaining_s double precision,
    ADD COLUMN sla_warn_remaining_s double precision,
    ADD COLUMN sla_working_time boolean NOT NULL DEFAULT false;

UPDATE incidents SET
    sla_priority = priority,
    sla_started_at = CASE sla_stage
        WHEN 'ACKNOWLEDGE' THEN created_at
        WHEN 'DISPATCH' THEN coalesce(acknowledged_at, created_at)
        WHEN 'RESOLVE' THEN coalesce(dispatched_at, acknowledged_at, created_at)
    END
WHERE sla_stage <> '';

-- The sweep looks for due warnings as it does for due deadlines (incidents_sla_due).
CREATE INDEX incidents_sla_warn ON incidents (sla_warn_at) WHERE sla_warn_at IS NOT NULL;
