-- Issue 18: since 1 July 2025 the reference area has wards and communes (phường/xã), no districts.
-- Every incident carries its commune-level unit: the code from the city's registry
-- (cities/<city>/admin_units.yaml) and its official name. `district` stays for old readers and now
-- mirrors ward_name on new rows; rows written before this migration keep ward_code '' (their
-- location is unchanged, so a re-report or an operator's edit places them).
ALTER TABLE incidents ADD COLUMN ward_code text NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN ward_name text NOT NULL DEFAULT '';
CREATE INDEX incidents_ward_created ON incidents (ward_code, created_at DESC);
