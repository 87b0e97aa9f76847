-- Issue 20: a dispatcher may choose another unit than the recommended one; the assignment keeps
-- the reason and the recommended unit passed over (assigned_by_* says who overrode).
ALTER TABLE assignments ADD COLUMN override_reason text NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN recommended_unit_id text NOT NULL DEFAULT '';
