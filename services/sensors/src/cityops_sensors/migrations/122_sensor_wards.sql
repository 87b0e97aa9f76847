-- Issue 18: every sensor carries the commune-level unit (phường/xã) of its location, derived when
-- it is registered (or re-registered). `district` is deprecated and optional from now on.
ALTER TABLE sensors ADD COLUMN ward_code text NOT NULL DEFAULT '';
ALTER TABLE sensors ADD COLUMN ward_name text NOT NULL DEFAULT '';
CREATE INDEX sensors_kind_ward ON sensors (kind, ward_code);
