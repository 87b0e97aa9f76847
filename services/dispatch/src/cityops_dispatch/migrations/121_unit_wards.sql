-- Issue 18: every unit carries the commune-level unit (phường/xã) of its latest position (of its
-- station when it has no position in the city), kept current by each AVL fix. `district` stays
-- as registered (deprecated); the API shows the ward's name in it.
ALTER TABLE units ADD COLUMN ward_code text NOT NULL DEFAULT '';
ALTER TABLE units ADD COLUMN ward_name text NOT NULL DEFAULT '';
CREATE INDEX units_ward ON units (ward_code, id);
